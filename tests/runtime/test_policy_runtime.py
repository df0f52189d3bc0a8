"""Torch-free ONNX policy runtime: loading, validation, acting, clear errors.

Bundles here are built with ``onnx.helper`` (a linear policy), so these tests need no torch;
parity with torch-exported bundles is in ``tests/export/test_onnx_export.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from robot_rl.robots import get_robot
from robot_rl.robots.contract import contract_of
from robot_rl.runtime.policy import BundleError, OnnxPolicy

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = [{"name": "joint_pos", "dim": 6, "scale": 1.0, "noise": 0.01},
          {"name": "joint_vel", "dim": 6, "scale": 0.05, "noise": 0.5},
          {"name": "ee_pos", "dim": 3, "scale": 1.0, "noise": 0.0},
          {"name": "goal_pos", "dim": 3, "scale": 1.0, "noise": 0.0},
          {"name": "last_action", "dim": 6, "scale": 1.0, "noise": 0.0}]
OBS_DIM, ACT_DIM = 24, 6


def base_meta() -> dict[str, Any]:
    return {"format_version": 2, "robot": "arm6", "obs_terms": LAYOUT, "obs_dim": OBS_DIM,
            "act_dim": ACT_DIM, "action_type": "joint_pos_offset", "action_scale": 0.5,
            "policy_dt": 0.02, "horizon": 1, "algorithm": "ppo", "config_hash": "h",
            "code_version": "0.1.0", "extra": {}, "contract": contract_of(get_robot("arm6"))}


def make_bundle(path: Path, meta: dict[str, Any] | str | None = None, obs_dim: int = OBS_DIM,
                act_dim: int = ACT_DIM, seed: int = 0) -> tuple[Path, np.ndarray, np.ndarray]:
    """Linear bundle ``action = obs @ w + b``; returns (path, w, b)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(obs_dim, act_dim)).astype(np.float32)
    b = rng.normal(size=act_dim).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["obs", "w"], ["y"]),
         helper.make_node("Add", ["y", "b"], ["action"])], "linear",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", obs_dim])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", act_dim])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = base_meta() if meta is None else meta
    if meta != "":
        helper.set_model_props(model, {"robot_rl": meta if isinstance(meta, str)
                                       else json.dumps(meta)})
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path))
    return path, w, b


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    return make_bundle(tmp_path / "bundle.onnx")


def test_load_and_act(bundle: tuple[Path, np.ndarray, np.ndarray]) -> None:
    path, w, b = bundle
    pol = OnnxPolicy(path, intra_op_threads=2)
    assert (pol.obs_dim, pol.act_dim, pol.robot) == (OBS_DIM, ACT_DIM, "arm6")
    assert pol.metadata == base_meta()
    obs = np.random.default_rng(1).normal(size=(1000, OBS_DIM))  # float64 in
    out = pol.act(obs)
    assert out.shape == (1000, ACT_DIM) and out.dtype == np.float32
    np.testing.assert_allclose(out, obs.astype(np.float32) @ w + b, atol=1e-4)
    one = pol.act(obs[3].tolist())  # type: ignore[arg-type]
    assert one.shape == (ACT_DIM,)
    np.testing.assert_allclose(one, out[3], atol=1e-6)
    assert "arm6" in repr(pol)


def test_single_observation_fast_path(bundle: tuple[Path, np.ndarray, np.ndarray]) -> None:
    """One float observation runs on buffers bound to the session: same numbers as the
    batch path, a fresh array each call, non-finite input refused, safe across threads."""
    import threading

    path, w, b = bundle
    pol = OnnxPolicy(path)
    obs = np.random.default_rng(2).normal(size=(200, OBS_DIM))
    first = pol.act(obs[0])
    first_copy = first.copy()
    second = pol.act(obs[1])
    np.testing.assert_array_equal(first, first_copy)  # not overwritten by the next call
    np.testing.assert_allclose(second, obs[1].astype(np.float32) @ w + b, atol=1e-4)
    np.testing.assert_array_equal(pol.act(obs[5].astype(np.float32)), pol.act(obs[5:6])[0])
    bad = obs[7].copy()
    bad[4] = np.nan
    with pytest.raises(BundleError, match=r"non-finite .* indices \[4\]"):
        pol.act(bad)
    np.testing.assert_allclose(pol.act(obs[8]), obs[8].astype(np.float32) @ w + b, atol=1e-4)
    errors: list[float] = []

    def worker(rows: np.ndarray) -> None:
        for x in rows:
            errors.append(float(np.abs(pol.act(x) - (x.astype(np.float32) @ w + b)).max()))

    threads = [threading.Thread(target=worker, args=(obs[i::3],)) for i in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(errors) == 200 and max(errors) < 1e-4


def test_check_robot(bundle: tuple[Path, np.ndarray, np.ndarray]) -> None:
    pol = OnnxPolicy(bundle[0])
    pol.check_robot("arm6")
    pol.check_robot(get_robot("arm6"), LAYOUT)
    with pytest.raises(BundleError, match="bundle is for robot 'arm6', not 'quad12'"):
        pol.check_robot(get_robot("quad12"))
    with pytest.raises(BundleError, match="not 'arm7'"):
        pol.check_robot("arm7")
    swapped = [LAYOUT[1], LAYOUT[0], *LAYOUT[2:]]
    with pytest.raises(BundleError, match="term 0 is 'joint_vel' .* expects 'joint_pos'"):
        pol.check_robot("arm6", swapped)
    with pytest.raises(BundleError, match="expects 24 observations, .* makes 21"):
        pol.check_robot("arm6", LAYOUT[:-1] + [{"name": "last_action", "dim": 3}])
    rescaled = [*LAYOUT[:1], {**LAYOUT[1], "scale": 0.1}, *LAYOUT[2:]]
    with pytest.raises(BundleError, match="'joint_vel' scale is 0.1, .* trained with 0.05"):
        pol.check_robot("arm6", rescaled)
    merged = [*LAYOUT[:3], {"name": "goal_pos", "dim": 9}]
    with pytest.raises(BundleError, match="term 3 is 'goal_pos' \\(9\\)"):
        pol.check_robot("arm6", merged)


def test_wrong_joint_count(tmp_path: Path) -> None:
    meta = {**base_meta(), "act_dim": 5}
    pol = OnnxPolicy(make_bundle(tmp_path / "b.onnx", meta, act_dim=5)[0])
    with pytest.raises(BundleError, match="outputs 5 joint_pos_offset actions, .* 6 joints"):
        pol.check_robot(get_robot("arm6"))


def test_bad_observations(bundle: tuple[Path, np.ndarray, np.ndarray]) -> None:
    pol = OnnxPolicy(bundle[0])
    with pytest.raises(BundleError, match=r"expected \[24\] or \[B, 24\].*got 23"):
        pol.act(np.zeros(23))
    with pytest.raises(BundleError, match="got 25"):
        pol.act(np.zeros((4, 25)))
    with pytest.raises(BundleError, match="does not fit"):
        pol.act(np.zeros((2, 3, 24)))
    obs = np.zeros((2, 24))
    obs[1, 7] = np.nan
    obs[0, 2] = np.inf
    with pytest.raises(BundleError, match=r"non-finite .* indices \[2, 7\]"):
        pol.act(obs)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "bundle.onnx"
    with pytest.raises(BundleError, match=f"policy bundle not found: {path}"):
        OnnxPolicy(path)


@pytest.mark.parametrize("cut", [0, 10, 0.5])
def test_truncated_or_corrupted_file(bundle: tuple[Path, np.ndarray, np.ndarray],
                                     tmp_path: Path, cut: float) -> None:
    data = bundle[0].read_bytes()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(data[: int(cut * len(data)) if isinstance(cut, float) else cut])
    with pytest.raises(BundleError, match="is not a valid ONNX model.*robot-rl export "
                                          "CHECKPOINT --out bundle.onnx") as err:
        OnnxPolicy(bad)
    assert str(bad) in str(err.value)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07not an onnx model" * 50)
    with pytest.raises(BundleError, match="not a valid ONNX model"):
        OnnxPolicy(garbage)


@pytest.mark.parametrize(("meta", "message"), [
    ("", "no 'robot_rl' metadata"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ({k: v for k, v in base_meta().items() if k != "robot"}, "lacks required key 'robot'"),
    ({k: v for k, v in base_meta().items() if k != "obs_terms"},
     "lacks required key 'obs_terms'"),
    ({k: v for k, v in base_meta().items() if k != "policy_dt"},
     "lacks required key 'policy_dt'"),
    ({**base_meta(), "obs_dim": "24"}, "key 'obs_dim' has bad value '24'"),
    ({**base_meta(), "format_version": 3}, "format_version 3 is not supported"),
    ({**base_meta(), "format_version": 1}, r"format_version 1 has no control contract.*--upgrade"),
    ({k: v for k, v in base_meta().items() if k != "contract"},
     "lacks required key 'contract'"),
    ({**base_meta(), "contract": {**contract_of(get_robot("arm6")), "kp": [1.0]}},
     "contract kp must be 6 finite numbers"),
    ({**base_meta(), "contract": {**contract_of(get_robot("arm6")), "joint_names": ["a", "a"]}},
     "contract joint_names must be distinct"),
    ({**base_meta(), "action_type": "torque"}, "unknown action_type 'torque'"),
    ({**base_meta(), "policy_dt": -0.02}, "policy_dt must be > 0"),
    ({**base_meta(), "obs_terms": LAYOUT[:-1]}, "dims sum to 18, but obs_dim is 24"),
    ({**base_meta(), "obs_terms": [{"name": "obs"}]}, r"obs_terms\[0\] lacks key 'dim'"),
    ({**base_meta(), "obs_dim": 25, "obs_terms": [*LAYOUT, {"name": "x", "dim": 1}]},
     r"graph obs has shape \[B, 24\], but the metadata says \[B, 25\]"),
])
def test_bad_metadata(tmp_path: Path, meta: dict[str, Any] | str, message: str) -> None:
    path = make_bundle(tmp_path / "b.onnx", meta)[0]
    with pytest.raises(BundleError, match=message):
        OnnxPolicy(path)
    assert issubclass(BundleError, ValueError)


def test_runtime_never_imports_torch(bundle: tuple[Path, np.ndarray, np.ndarray]) -> None:
    code = ("import sys, numpy as np\n"
            "import robot_rl.runtime.policy as rp\n"
            f"pol = rp.OnnxPolicy({str(bundle[0])!r})\n"
            "pol.check_robot('arm6')\n"
            "a = pol.act(np.zeros(pol.obs_dim)); b = pol.act(np.ones((3, pol.obs_dim)))\n"
            "assert a.shape == (6,) and b.shape == (3, 6)\n"
            "try:\n    pol.act(np.zeros(3))\nexcept rp.BundleError:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
