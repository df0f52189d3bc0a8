"""Typed configuration: YAML files loaded into dataclasses with validation.

Every key is checked at load time: an unknown key, a missing required key or a value of the
wrong type raises `ConfigError` naming the file, the dotted key and the reason, e.g.::

    configs/tasks/quad12-walk.yaml: key 'rewards.trackin_lin_vel': unknown key; valid keys: ...

Every float must be finite: ``.nan``, ``.inf`` and ``-.inf`` are refused for every config
in the project (here, in one place), since NaN passes checks such as ``x <= 0`` and inf makes
a timeout or limit never trip. Ranges are each config's own ``validate``.

Supported field types: bool, int, float, str, Literal[...], tuples / lists of those
(``tuple[float, float]`` fixes the length, ``tuple[float, ...]`` does not), ``dict[str, T]``,
nested dataclasses and ``X | None``. Dataclasses may define ``validate(self) -> None`` that
raises ``ValueError`` for cross-field checks; the message is reported with the file name.
"""

from __future__ import annotations

import dataclasses
import math
import types
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from robot_rl.errors import RobotRLError

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]  # the repository (configs/, pretrained/)


def resolve(path: str | Path) -> Path:
    """A path from a config: absolute, or relative to the working directory if it exists
    there, else relative to the repository (so shipped configs work from anywhere)."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return REPO / p


class ConfigError(RobotRLError, ValueError):
    """A configuration file or override is invalid. The message names file, key and reason."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _at(path: str) -> str:
    return f"key '{path}'" if path else "top level"


def _finite_float(value: int | float, where: str) -> float:
    """``value`` as a finite float, else ConfigError. The one place every float of every
    config passes: a NaN slips through checks written as ``x <= 0`` or ``x > limit`` (every
    comparison with NaN is false) and an inf makes a timeout or a limit never trip, so either
    would silently switch a safety check off."""
    try:
        out = float(value)
    except OverflowError:  # an integer literal beyond the float range
        out = math.inf if value > 0 else -math.inf
    if not math.isfinite(out):
        spelled = ".nan" if math.isnan(out) else (".inf" if out > 0 else "-.inf")
        raise ConfigError(f"{where}: {spelled} is not a finite number (NaN or inf would "
                          "switch off the checks that use it); give a finite value in SI "
                          "units")
    return out


def _convert(value: Any, tp: Any, path: str) -> Any:
    """Convert a YAML value to type ``tp`` or raise ConfigError("key 'a.b': reason")."""
    where = _at(path)
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, path)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{where}: {value!r} matches none of {_type_name(tp)}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = ""
            if isinstance(value, str) and "e" in value.lower():
                try:
                    if math.isfinite(float(value)):
                        hint = (" (YAML reads an exponent without a dot and a sign as text: "
                                "write e.g. 1.0e+5 or 100000.0)")
                except ValueError:
                    pass
            raise ConfigError(f"{where}: expected a number, got {value!r}{hint}")
        return _finite_float(value, where)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            items = [_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_tp = args[0] if args else Any
            items = [_convert(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_tp, val_tp = get_args(tp) or (Any, Any)
        return {_convert(k, key_tp, path): _convert(v, val_tp, f"{path}.{k}")
                for k, v in value.items()}
    raise ConfigError(f"{where}: unsupported field type {_type_name(tp)}")


def _build(cls: type[T], data: Any, path: str) -> T:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{_at(path)}: expected a mapping, got {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    prefix = f"{path}." if path else ""
    for key in data:
        if key not in fields:
            raise ConfigError(f"key '{prefix}{key}': unknown key; valid keys: "
                              f"{', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], f"{prefix}{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"key '{prefix}{name}': required key is missing")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as err:
            raise ConfigError(f"{_at(path) if path else 'invalid value'}: {err}") from None
    return obj


def from_dict(cls: type[T], data: dict[str, Any], source: str = "<dict>") -> T:
    """Build dataclass ``cls`` from a mapping; errors are prefixed with ``source``."""
    try:
        return _build(cls, data, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a syntax error is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def load_config(cls: type[T], path: str | Path, overrides: dict[str, Any] | None = None) -> T:
    """Load YAML file ``path`` into dataclass ``cls``, with optional nested ``overrides``."""
    data = load_yaml(path)
    if overrides:
        data = merge(data, overrides)
    return from_dict(cls, data, str(path))


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge (``update`` wins); neither input is modified."""
    out = dict(base)
    for key, val in update.items():
        if isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], val)
        else:
            out[key] = val
    return out


def to_dict(obj: Any) -> Any:
    """Dataclass → plain YAML/JSON-able structure (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


__all__ = ["REPO", "ConfigError", "from_dict", "load_config", "load_yaml", "merge", "resolve",
           "to_dict"]
