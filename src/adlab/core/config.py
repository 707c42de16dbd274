"""Typed experiment configurations: dataclasses whose fields carry a docstring and bounds.

Every experiment declares its configuration as a dataclass whose fields are made with
:func:`param`, so each field has a type, a default (the ``quick`` preset), a one-line
docstring and optional bounds::

    @dataclass
    class Config:
        lr: float = param(0.1, "learning rate of SGD", gt=0)
        epochs: int = param(5, "passes over the training set", ge=1)
        optimizer: Literal["sgd", "adam"] = param("sgd", "which optimizer")

``--set key=value`` strings are parsed against the field's type by :func:`apply_overrides`,
and :func:`validate` checks types and bounds; both raise :class:`ConfigError` with a one-line
message naming the field and what it expects.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from adlab.core.errors import ConfigError, closest

_MISSING = dataclasses.MISSING


def param(
    default: Any,
    doc: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple | None = None,
    threshold: bool = False,
) -> Any:
    """A dataclass field with a docstring and optional bounds (``ge``/``gt``/``le``/``lt``/``choices``).

    ``threshold=True`` marks a number the verdict holds results to: presets may set it (a full
    preset can ask for more), but ``--set`` cannot, so a claim is never judged against a bar
    the user lowered. Mutable defaults (lists, dicts) are wrapped in a default factory.
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "threshold": threshold or None}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class FieldSpec:
    """What the CLI and the docs need to know about one configuration field."""

    name: str
    type: Any
    default: Any
    doc: str
    bounds: dict

    @property
    def type_name(self) -> str:
        return _type_name(self.type)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + "|".join(str(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        inner = " or ".join(_type_name(a) for a in args)
        return f"{inner} or none" if len(args) < len(get_args(tp)) else inner
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return f"comma-separated list of {_type_name(args[0])}" if args else "comma-separated list"
    return getattr(tp, "__name__", str(tp))


def fields_of(cfg_or_cls: Any) -> list[FieldSpec]:
    """The :class:`FieldSpec` of every field of a config dataclass (or instance), in order."""
    cls = cfg_or_cls if isinstance(cfg_or_cls, type) else type(cfg_or_cls)
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if f.default is not _MISSING:
            default = f.default
        elif f.default_factory is not _MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        bounds = {k: v for k, v in f.metadata.items() if k != "doc" and v is not None}
        specs.append(FieldSpec(f.name, hints[f.name], default, f.metadata.get("doc", ""), bounds))
    return specs


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(spec: FieldSpec, text: str) -> Any:
    """Parse a ``--set`` string into the field's type, or raise :class:`ConfigError`."""
    try:
        return _parse(spec.type, text.strip())
    except (ValueError, TypeError):
        raise ConfigError(
            f"--set {spec.name}={text!r}: expected {spec.type_name} ({spec.doc})"
        ) from None


def _parse(tp: Any, text: str) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args and text.lower() in {"none", "null", ""}:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _parse(a, text)
            except (ValueError, TypeError):
                continue
        raise ValueError(text)
    if origin is Literal:
        for a in get_args(tp):
            if str(a) == text:
                return a
        raise ValueError(text)
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis] or [str]
        items = [s for s in text.strip("[]()").split(",") if s.strip()]
        vals = [_parse(args[0], s.strip()) for s in items]
        return tuple(vals) if origin is tuple else vals
    if tp is bool:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(text)
    if tp is int:
        value = float(text) if ("e" in text.lower() and "." not in text) else None
        if value is not None:
            if not value.is_integer():
                raise ValueError(text)
            return int(value)
        return int(text)
    if tp is float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    if tp is str:
        return text
    raise TypeError(f"unsupported field type {tp}")


def _check_type(tp: Any, value: Any) -> bool:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_check_type(a, value) for a in get_args(tp))
    if tp is type(None):
        return value is None
    if origin is Literal:
        return value in get_args(tp)
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return isinstance(value, (list, tuple)) and all(_check_type(args[0], v) for v in value) if args else True
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def validate(cfg: Any) -> None:
    """Check every field's type and bounds; raise :class:`ConfigError` naming the first bad field."""
    for spec in fields_of(cfg):
        value = getattr(cfg, spec.name)
        if not _check_type(spec.type, value):
            raise ConfigError(f"{spec.name}={value!r}: expected {spec.type_name} ({spec.doc})")
        b = spec.bounds
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "ge" in b and not value >= b["ge"]:
                raise ConfigError(f"{spec.name}={value}: must be >= {b['ge']} ({spec.doc})")
            if "gt" in b and not value > b["gt"]:
                raise ConfigError(f"{spec.name}={value}: must be > {b['gt']} ({spec.doc})")
            if "le" in b and not value <= b["le"]:
                raise ConfigError(f"{spec.name}={value}: must be <= {b['le']} ({spec.doc})")
            if "lt" in b and not value < b["lt"]:
                raise ConfigError(f"{spec.name}={value}: must be < {b['lt']} ({spec.doc})")
        if b.get("choices") and value is not None:
            items = value if isinstance(value, (list, tuple)) else [value]
            bad = [v for v in items if v not in b["choices"]]
            if bad:
                raise ConfigError(
                    f"{spec.name}={bad[0]!r}: expected one of {', '.join(map(str, b['choices']))} ({spec.doc})"
                )


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """Split ``["lr=0.1", "epochs=3"]`` into a dict; a pair without ``=`` is a :class:`ConfigError`."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


def apply_overrides(cfg: Any, overrides: dict[str, Any]) -> Any:
    """A copy of ``cfg`` with ``overrides`` applied; string values are parsed against field types."""
    specs = {s.name: s for s in fields_of(cfg)}
    changes = {}
    for key, value in overrides.items():
        if key not in specs:
            near = closest(key, list(specs))
            hint = f"; did you mean {', '.join(near)}?" if near else f"; fields: {', '.join(specs)}"
            raise ConfigError(f"unknown config field '{key}' for {type(cfg).__name__}{hint}")
        if specs[key].bounds.get("threshold"):
            raise ConfigError(f"{key} is a verdict threshold (part of the claim); it cannot be changed with --set")
        changes[key] = parse_value(specs[key], value) if isinstance(value, str) else value
    new = dataclasses.replace(cfg, **changes)
    validate(new)
    return new


def to_dict(cfg: Any) -> dict:
    """The config as a JSON-ready dict (tuples become lists)."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: dict) -> Any:
    """Rebuild a config from :func:`to_dict`'s output (as read back from ``config.json``)."""
    specs = {s.name: s for s in fields_of(cls)}
    unknown_keys = set(data) - set(specs)
    if unknown_keys:
        raise ConfigError(f"config.json has unknown fields {sorted(unknown_keys)} for {cls.__name__}")
    values = {}
    for key, value in data.items():
        if isinstance(value, list) and get_origin(specs[key].type) is tuple:
            value = tuple(value)
        values[key] = value
    cfg = cls(**values)
    validate(cfg)
    return cfg
