"""The experiment contract and its registry.

An experiment is one claim of the curriculum turned into code that can fail::

    @experiment
    class LinearSoftmax(Experiment):
        name = "foundations.linear-softmax"
        claim = "A linear softmax classifier reaches about 84% on Fashion-MNIST."
        Config = LinearSoftmaxConfig          # dataclass; its defaults are the quick preset
        presets = {"smoke": {...}, "full": {...}}
        ci = True                             # make test asserts its quick verdict
        flagship = True                       # adlab tour runs it for its lecture
        datasets = ("fashion-mnist",)

        def run(self, cfg, ctx) -> Results: ...
        def verdict(self, results, cfg) -> Verdict: ...

Verdicts are built from :func:`check` results, each comparing a measured number with a
stated threshold.
"""

from __future__ import annotations

import abc
import dataclasses
import fnmatch
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from adlab.core.config import apply_overrides, validate
from adlab.core.errors import ConfigError, unknown

PRESETS = ("smoke", "quick", "full")

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass
class Check:
    """One measured number held to one threshold: ``value op threshold``."""

    name: str
    value: float
    op: str
    threshold: float
    passed: bool

    def describe(self) -> str:
        mark = "ok" if self.passed else "FAILED"
        return f"{self.name} = {_fmt(self.value)} (needs {self.op} {_fmt(self.threshold)}): {mark}"


def _fmt(x: float) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if x != x or math.isinf(x):
        return str(x)
    return f"{x:.4g}"


def check(name: str, value: float, op: str, threshold: float) -> Check:
    """Compare ``value`` with ``threshold`` using ``op`` (one of >=, >, <=, <, ==); NaN never passes."""
    if op not in _OPS:
        raise ValueError(f"unknown comparison {op!r}; use one of {', '.join(_OPS)}")
    value = float(value)
    passed = bool(value == value and _OPS[op](value, float(threshold)))
    return Check(name, value, op, float(threshold), passed)


@dataclass
class Verdict:
    """Pass or fail, a sentence a learner understands, and the checks behind it."""

    passed: bool
    summary: str
    checks: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "summary": self.summary, "checks": [dataclasses.asdict(c) for c in self.checks]}

    @classmethod
    def from_dict(cls, d: dict) -> "Verdict":
        return cls(bool(d["passed"]), str(d["summary"]), [Check(**c) for c in d.get("checks", [])])


def verdict(checks: list[Check], claim_holds: str, claim_fails: str) -> Verdict:
    """A :class:`Verdict` that passes when every check passes; the summary lists the numbers.

    A verdict without checks has measured nothing and fails.
    """
    if not checks:
        return Verdict(False, f"{claim_fails} (no check was made: nothing was measured)", [])
    passed = all(c.passed for c in checks)
    numbers = "; ".join(c.describe() for c in checks)
    return Verdict(passed, f"{claim_holds if passed else claim_fails} ({numbers})", list(checks))


@dataclass
class Results:
    """What a run measured: scalar ``metrics``, ``artifacts`` (paths relative to the run directory)
    and ``details`` (JSON-ready tables and curves used by plots and reports)."""

    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class Experiment(abc.ABC):
    """Base class of a registered claim; subclasses set the class attributes and implement
    :meth:`run` and :meth:`verdict`."""

    name: ClassVar[str] = ""
    claim: ClassVar[str] = ""
    Config: ClassVar[type] = object
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    ci: ClassVar[bool] = False
    flagship: ClassVar[bool] = False
    datasets: ClassVar[tuple[str, ...]] = ()
    key_metrics: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def lecture(cls) -> str:
        return cls.name.split(".", 1)[0]

    @classmethod
    def config(cls, preset: str = "quick", overrides: dict[str, Any] | None = None) -> Any:
        """The resolved config: dataclass defaults, then the preset, then ``overrides``."""
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset '{preset}'; use one of {', '.join(PRESETS)}")
        cfg = cls.Config()
        cfg = dataclasses.replace(cfg, **cls.presets.get(preset, {}))
        validate(cfg)
        return apply_overrides(cfg, overrides or {})

    @abc.abstractmethod
    def run(self, cfg: Any, ctx: Any) -> Results:
        """Train and measure; write plots and checkpoints through ``ctx``."""

    @abc.abstractmethod
    def verdict(self, results: Results, cfg: Any) -> Verdict:
        """Hold the measured numbers to the claim's thresholds."""


class Registry:
    """Name -> experiment class; filled by :func:`experiment` when ``adlab.catalog`` imports the lectures."""

    def __init__(self) -> None:
        self._items: dict[str, type[Experiment]] = {}

    def add(self, cls: type[Experiment]) -> type[Experiment]:
        name = cls.name
        if not name or "." not in name:
            raise ValueError(f"{cls.__name__}.name must be '<lecture>.<name>', got {name!r}")
        if name in self._items and self._items[name] is not cls:
            raise ValueError(f"experiment {name!r} registered twice")
        if not dataclasses.is_dataclass(cls.Config):
            raise TypeError(f"{name}: Config must be a dataclass")
        for preset in cls.presets:
            if preset not in PRESETS:
                raise ValueError(f"{name}: unknown preset {preset!r}")
        self._items[name] = cls
        return cls

    def get(self, name: str) -> type[Experiment]:
        if name not in self._items:
            raise unknown("experiment", name, list(self._items))
        return self._items[name]

    def names(self, pattern: str | None = None) -> list[str]:
        names = sorted(self._items)
        if pattern:
            names = [n for n in names if fnmatch.fnmatchcase(n, pattern) or fnmatch.fnmatchcase(n, f"*{pattern}*")]
        return names

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)


REGISTRY = Registry()


def experiment(cls: type[Experiment]) -> type[Experiment]:
    """Class decorator: register ``cls`` under ``cls.name``."""
    return REGISTRY.add(cls)
