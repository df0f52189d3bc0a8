"""Config loading: unknown keys, wrong types and bad values fail at load time naming the
file, the key and the reason; every shipped config loads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from robot_rl.config import ConfigError, from_dict, load_config, to_dict
from robot_rl.envs import TASKS, load_task_config
from robot_rl.envs.quad12_walk import WalkConfig
from robot_rl.envs.registry import CONFIG_DIR


@dataclass
class Inner:
    gain: float = 1.0
    mode: Literal["a", "b"] = "a"


@dataclass
class Outer:
    name: str
    count: int = 1
    pair: tuple[float, float] = (0.0, 1.0)
    inner: Inner = field(default_factory=Inner)
    table: dict[str, float] = field(default_factory=dict)
    maybe: float | None = None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_valid_config_converts_types(tmp_path: Path) -> None:
    cfg = load_config(Outer, _write(tmp_path, "name: x\ncount: 3\npair: [1, 2.5]\n"
                                              "inner: {gain: 2}\ntable: {a: 1}\n"))
    assert cfg == Outer("x", 3, (1.0, 2.5), Inner(2.0, "a"), {"a": 1.0}, None)
    assert isinstance(cfg.pair[0], float)
    assert from_dict(Outer, to_dict(cfg)) == cfg


@pytest.mark.parametrize(("text", "key", "reason"), [
    ("name: x\ncuont: 3\n", "cuont", "unknown key; valid keys: count, inner, maybe, name"),
    ("name: x\ninner: {gian: 2}\n", "inner.gian", "unknown key; valid keys: gain, mode"),
    ("name: x\ncount: many\n", "count", "expected an integer, got 'many'"),
    ("name: x\ncount: 2.5\n", "count", "expected an integer"),
    ("name: x\ncount: true\n", "count", "expected an integer"),
    ("name: x\ninner: {gain: fast}\n", "inner.gain", "expected a number"),
    ("name: x\ninner: {mode: c}\n", "inner.mode", "'c' is not one of 'a', 'b'"),
    ("name: x\npair: [1, 2, 3]\n", "pair", "expected 2 values, got 3"),
    ("name: x\ntable: {a: b}\n", "table.a", "expected a number"),
    ("count: 2\n", "name", "required key is missing"),
])
def test_bad_config_names_file_key_and_reason(tmp_path: Path, text: str, key: str,
                                              reason: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(Outer, path)
    msg = str(err.value)
    assert str(path) in msg
    assert f"key '{key}'" in msg
    assert reason in msg


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, _write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(Outer, _write(tmp_path, "- a\n- b\n"))


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_shipped_task_config_loads(task: str) -> None:
    cfg = load_task_config(task)
    assert cfg.robot in ("quad12", "arm6")


@pytest.mark.parametrize("path", sorted((CONFIG_DIR / "algos").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_algorithm_config_loads(path: Path) -> None:
    from robot_rl.algos.hinf import HInfTrainConfig
    from robot_rl.algos.runner import TrainConfig

    schema = HInfTrainConfig if path.name.startswith("hinf") else TrainConfig
    cfg = load_config(schema, path)
    assert cfg.iterations > 0 and cfg.num_envs > 0
    if isinstance(cfg, HInfTrainConfig):  # the shipped recipe and the first runs' one
        assert cfg.hinf.curriculum_window == (0 if "band" in path.name else 50)


def test_task_config_errors_name_the_file(tmp_path: Path) -> None:
    src = (CONFIG_DIR / "tasks" / "quad12-walk.yaml").read_text()
    bad = _write(tmp_path, src.replace("resample_s: 10.0", "resample_s: soon"))
    with pytest.raises(ConfigError, match=r"cfg\.yaml: key 'commands\.resample_s': "
                                          r"expected a number, got 'soon'"):
        load_task_config("quad12-walk", bad)
    bad = _write(tmp_path, src.replace("lin_vel_x: [-1.0, 1.0]", "lin_vel_x: [1.0, -1.0]"))
    with pytest.raises(ConfigError, match=r"commands\.lin_vel_x: low 1\.0 above high -1\.0"):
        load_task_config("quad12-walk", bad)
    bad = _write(tmp_path, src.replace("robot: quad12", "robot: quad13"))
    with pytest.raises(ConfigError, match="unknown robot 'quad13'; available: arm6, quad12"):
        load_task_config("quad12-walk", bad)
    bad = _write(tmp_path, src.replace("  kind: flat", "  kind: lava"))
    with pytest.raises(ConfigError, match=r"key 'terrain\.kind': 'lava' is not one of"):
        load_task_config("quad12-walk", bad)
    bad = _write(tmp_path, src.replace("[base_ang_vel,", "[base_angvel,"))
    with pytest.raises(ConfigError, match="unknown term 'base_angvel'"):
        load_task_config("quad12-walk", bad)


def test_overrides_are_validated_too() -> None:
    cfg = load_task_config("quad12-walk", overrides={"commands": {"resample_s": 5.0}})
    assert isinstance(cfg, WalkConfig) and cfg.commands.resample_s == 5.0
    assert cfg.commands.lin_vel_x == (-1.0, 1.0)  # merged, not replaced
    with pytest.raises(ConfigError, match="key 'episode_z': unknown key"):
        load_task_config("quad12-walk", overrides={"episode_z": 3})
