#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine (Python 3.11): Debian packages for offscreen
# rendering, a virtual environment in .venv with the pinned packages, the project installed
# in editable mode. Re-running it does nothing when everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
DEB_PKGS=(libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libosmesa6 libglfw3)

missing=()
for pkg in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  echo "bootstrap: error: Python 3.11 is required ($PY is $("$PY" --version 2>&1));" \
       "set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi

# pip, quiet; drops the "Location ... is ignored" noise some machines' pip configs produce
pip_q() {
  set +e
  .venv/bin/python -m pip -q "$@" 2>&1 | grep -v "^WARNING: Location 'file://"
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

stamp=.venv/.robot-rl-installed
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing pinned Python packages (requirements.lock)"
  pip_q install --upgrade pip
  pip_q install -r requirements.lock
  pip_q install --no-deps -e .
  echo "$want" > "$stamp"
fi

# the ROS 2 nodes (ros_ws/src/robot_rl_ros, an ament_python package) on the venv's path, so
# `robot-rl bringup` and the per-node processes find them without a colcon build
site=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
ros_pkg="$PWD/ros_ws/src/robot_rl_ros"
if [ "$(cat "$site/robot_rl_ros.pth" 2>/dev/null)" != "$ros_pkg" ]; then
  echo "$ros_pkg" > "$site/robot_rl_ros.pth"
fi
