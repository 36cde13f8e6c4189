"""Frozen-dataclass configs: strict construction from dicts/TOML and JSON-ready dumps.

Unknown keys fail loudly (a typo in motorec.toml must never read as a default), values are checked
against the field's annotated type, and lists become tuples so configs stay hashable and frozen.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from motorec.errors import ConfigError

T = TypeVar("T")


def _check_value(name: str, value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_value(name, value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: bad value for {name!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {name!r} must be one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: {name!r} must be a list, got {type(value).__name__}")
        inner = args[0] if args else Any
        return tuple(_check_value(f"{name}[{i}]", v, inner, where) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {name!r} must be a table, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        return from_dict(tp, value, where=f"{where} [{name}]")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {name!r} must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {name!r} must be an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {name!r} must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {name!r} must be a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build the frozen dataclass `cls` from `data`, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} for {cls.__name__}; "
            f"known keys: {', '.join(sorted(fields))}"
        )
    kwargs = {k: _check_value(k, v, hints[k], where) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def to_dict(cfg: Any) -> dict[str, Any]:
    """JSON-ready dict of a (nested) config dataclass; tuples become lists."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(cfg)


def replace(cfg: T, **changes: Any) -> T:
    """`dataclasses.replace` with the same checks as `from_dict` (CLI flag overrides go through here)."""
    data = to_dict(cfg)
    for key, value in changes.items():
        if key not in data:
            raise ConfigError(f"unknown config key {key!r} for {type(cfg).__name__}")
        data[key] = value
    return from_dict(type(cfg), data, where=type(cfg).__name__)


def require(cond: bool, message: str) -> None:
    """Raise `ValueError(message)` unless `cond`; used in `__post_init__` range checks."""
    if not cond:
        raise ValueError(message)
