"""Joint calibration for 4096-tick servos: homing offset, direction and range.

Convention (ticks are raw Present/Goal_Position values, radians are joint angles)::

    q [rad] = direction * (ticks - (CENTER_TICKS + homing_offset)) * 2*pi / ticks_per_rev

so ``homing_offset`` is how far (in ticks) the servo's reading at the joint's zero is from
the 2048 centre, and ``direction`` is -1 when the servo turns against the joint's positive
sense. ``range_min`` / ``range_max`` are the raw tick limits the joint may be commanded to.

Calibrations are stored as one JSON file per robot::

    {"format": "robot-rl/servo-calibration", "version": 1, "robot": "arm6",
     "joints": {"shoulder_pan": {"id": 1, "homing_offset": -12, "direction": 1,
                                 "range_min": 800, "range_max": 3300}, ...}}
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hardware.errors import HardwareError

TICKS_PER_REV = 4096
CENTER_TICKS = 2048
FORMAT = "robot-rl/servo-calibration"
VERSION = 1
_JOINT_KEYS = ("id", "homing_offset", "direction", "range_min", "range_max")

Number = float | int | np.floating | np.integer
ArrayLike = Number | npt.NDArray[Any]


class CalibrationError(HardwareError, ValueError):
    """A calibration file or value is invalid; the message names the file, joint and key."""


@dataclass(frozen=True)
class JointCalibration:
    """Calibration of one joint driven by one servo.

    Parameters
    ----------
    motor_id : int
        Bus id of the servo.
    homing_offset : int
        Raw reading at the joint's zero minus ``CENTER_TICKS``, ticks.
    direction : int
        +1 or -1 (sign between servo ticks and joint angle).
    range_min, range_max : int
        Raw tick limits, ``0 <= range_min < range_max < ticks_per_rev``.
    ticks_per_rev : int
        Encoder ticks per revolution (4096 for Dynamixel X and STS3215).
    """

    motor_id: int
    homing_offset: int = 0
    direction: int = 1
    range_min: int = 0
    range_max: int = TICKS_PER_REV - 1
    ticks_per_rev: int = TICKS_PER_REV

    def __post_init__(self) -> None:
        for key in ("motor_id", "homing_offset", "direction", "range_min", "range_max",
                    "ticks_per_rev"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise CalibrationError(f"{key} must be an integer, got {value!r}")
        if not 0 <= self.motor_id <= 252:
            raise CalibrationError(f"id {self.motor_id} is outside 0..252")
        if self.direction not in (1, -1):
            raise CalibrationError(f"direction must be +1 or -1, got {self.direction}")
        if self.ticks_per_rev <= 0:
            raise CalibrationError("ticks_per_rev must be positive")
        if not 0 <= self.range_min < self.range_max < self.ticks_per_rev:
            raise CalibrationError(f"range [{self.range_min}, {self.range_max}] must satisfy "
                                   f"0 <= range_min < range_max < {self.ticks_per_rev}")
        if abs(self.homing_offset) >= self.ticks_per_rev:
            raise CalibrationError(f"|homing_offset| {self.homing_offset} must be below "
                                   f"{self.ticks_per_rev} ticks (one revolution)")

    @classmethod
    def from_zero(cls, motor_id: int, zero_ticks: int, range_min: int, range_max: int,
                  direction: int = 1, ticks_per_rev: int = TICKS_PER_REV) -> JointCalibration:
        """Build from the raw reading with the joint at its zero pose (ticks)."""
        return cls(motor_id, int(zero_ticks) - ticks_per_rev // 2, direction, range_min,
                   range_max, ticks_per_rev)

    @property
    def zero_ticks(self) -> int:
        """Raw reading at the joint's zero, ticks."""
        return self.ticks_per_rev // 2 + self.homing_offset

    @property
    def rad_per_tick(self) -> float:
        return 2.0 * math.pi / self.ticks_per_rev

    @property
    def limits_rad(self) -> tuple[float, float]:
        """Joint-angle limits (low, high) in rad corresponding to the tick range."""
        a, b = (float(self.ticks_to_rad(t)) for t in (self.range_min, self.range_max))
        return (a, b) if a <= b else (b, a)

    def ticks_to_rad(self, ticks: ArrayLike) -> ArrayLike:
        """Raw position (ticks) -> joint angle (rad); scalars or numpy arrays."""
        out = self.direction * (np.asarray(ticks, dtype=float) - self.zero_ticks) \
            * self.rad_per_tick
        return out if isinstance(ticks, np.ndarray) else float(out)

    def rad_to_ticks(self, rad: ArrayLike, *, clip: bool = True) -> ArrayLike:
        """Joint angle (rad) -> raw goal position (ticks, rounded; clipped to the range)."""
        ticks = np.rint(self.zero_ticks + self.direction * np.asarray(rad, dtype=float)
                        / self.rad_per_tick)
        if clip:
            ticks = np.clip(ticks, self.range_min, self.range_max)
        return ticks.astype(np.int64) if isinstance(rad, np.ndarray) else int(ticks)

    def velocity_to_rad_s(self, raw: ArrayLike, unit_rad_s: float) -> ArrayLike:
        """Raw velocity register value -> joint velocity (rad/s), given the register's
        unit in rad/s (``ModelSpec.velocity_unit_rad_s``)."""
        out = self.direction * np.asarray(raw, dtype=float) * unit_rad_s
        return out if isinstance(raw, np.ndarray) else float(out)

    def to_dict(self) -> dict[str, int]:
        return {"id": int(self.motor_id), "homing_offset": int(self.homing_offset),
                "direction": int(self.direction), "range_min": int(self.range_min),
                "range_max": int(self.range_max)}


@dataclass
class RobotCalibration:
    """All joints of one robot, keyed by joint name (in joint order)."""

    robot: str
    joints: dict[str, JointCalibration] = field(default_factory=dict)
    ticks_per_rev: int = TICKS_PER_REV

    def __post_init__(self) -> None:
        ids: dict[int, str] = {}
        for name, joint in self.joints.items():
            if joint.motor_id in ids:
                raise CalibrationError(f"joints {ids[joint.motor_id]!r} and {name!r} both use "
                                       f"motor id {joint.motor_id}")
            ids[joint.motor_id] = name

    def __getitem__(self, joint: str) -> JointCalibration:
        try:
            return self.joints[joint]
        except KeyError:
            raise KeyError(f"no calibration for joint {joint!r} of {self.robot}; calibrated: "
                           f"{list(self.joints)}") from None

    def ticks_to_rad(self, ticks: Mapping[str, int]) -> dict[str, float]:
        """{joint: raw ticks} -> {joint: rad}."""
        return {j: float(self[j].ticks_to_rad(t)) for j, t in ticks.items()}

    def rad_to_ticks(self, q: Mapping[str, float], *, clip: bool = True) -> dict[str, int]:
        """{joint: rad} -> {joint: raw ticks} (clipped to each joint's range)."""
        return {j: int(self[j].rad_to_ticks(v, clip=clip)) for j, v in q.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "robot": self.robot,
                "ticks_per_rev": self.ticks_per_rev,
                "joints": {name: j.to_dict() for name, j in self.joints.items()}}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON file atomically (a crash never leaves half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.to_dict(), f, indent=2)
                f.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>", robot: str | None = None,
                  joints: Iterable[str] | None = None) -> RobotCalibration:
        """Validate a decoded JSON document; errors name ``source``, the joint and key."""

        def fail(msg: str) -> CalibrationError:
            return CalibrationError(f"{source}: {msg}")

        if not isinstance(data, dict):
            raise fail("top level must be a JSON object")
        unknown = set(data) - {"format", "version", "robot", "ticks_per_rev", "joints"}
        if unknown:
            raise fail(f"unknown keys {sorted(unknown)}")
        if data.get("format") != FORMAT:
            raise fail(f"'format' must be {FORMAT!r}, got {data.get('format')!r}")
        if data.get("version") != VERSION:
            raise fail(f"unsupported 'version' {data.get('version')!r} (this code reads "
                       f"{VERSION})")
        name = data.get("robot")
        if not isinstance(name, str) or not name:
            raise fail("'robot' must be a non-empty string")
        if robot is not None and name != robot:
            raise fail(f"this calibration is for robot {name!r}, not {robot!r}")
        tpr = data.get("ticks_per_rev", TICKS_PER_REV)
        if isinstance(tpr, bool) or not isinstance(tpr, int) or tpr <= 0:
            raise fail(f"'ticks_per_rev' must be a positive integer, got {tpr!r}")
        raw = data.get("joints")
        if not isinstance(raw, dict) or not raw:
            raise fail("'joints' must be a non-empty object {joint name: {...}}")
        parsed = {}
        for joint, entry in raw.items():
            if not isinstance(entry, dict):
                raise fail(f"joint {joint!r}: must be an object with keys {_JOINT_KEYS}")
            missing = [k for k in _JOINT_KEYS if k not in entry]
            extra = sorted(set(entry) - set(_JOINT_KEYS))
            if missing or extra:
                raise fail(f"joint {joint!r}: " + (f"missing keys {missing} " if missing else "")
                           + (f"unknown keys {extra}" if extra else ""))
            try:
                parsed[joint] = JointCalibration(
                    entry["id"], entry["homing_offset"], entry["direction"],
                    entry["range_min"], entry["range_max"], tpr)
            except CalibrationError as exc:
                raise fail(f"joint {joint!r}: {exc}") from None
        if joints is not None:
            want = list(joints)
            missing_j = [j for j in want if j not in parsed]
            extra_j = [j for j in parsed if j not in want]
            if missing_j or extra_j:
                raise fail(f"joints do not match the robot: missing {missing_j}, "
                           f"unexpected {extra_j}")
        try:
            return cls(name, parsed, tpr)
        except CalibrationError as exc:
            raise fail(str(exc)) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, robot: str | None = None,
             joints: Iterable[str] | None = None) -> RobotCalibration:
        """Read and validate a calibration file.

        Raises
        ------
        CalibrationError
            Missing file (with the fix: run the calibration), bad JSON (line/column) or an
            invalid / mismatched entry (names the joint and key).
        """
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise CalibrationError(f"{path}: no calibration file; calibrate the robot first "
                                   "(move each joint through its range) and save it "
                                   "there") from None
        except OSError as exc:
            raise CalibrationError(f"{path}: cannot read: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CalibrationError(f"{path}: not valid JSON (line {exc.lineno}, column "
                                   f"{exc.colno}: {exc.msg})") from None
        return cls.from_dict(data, source=str(path), robot=robot, joints=joints)
