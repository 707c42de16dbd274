import math
from dataclasses import dataclass

import pytest

from adlab.core.config import param
from adlab.core.errors import ConfigError, UnknownNameError
from adlab.core.registry import Experiment, Registry, Results, check, verdict


@pytest.mark.parametrize(
    "value,op,thr,ok",
    [(0.9, ">=", 0.9, True), (0.89, ">=", 0.9, False), (1, ">", 1, False), (0.1, "<=", 0.1, True), (0.2, "<", 0.1, False), (math.nan, ">=", 0.0, False), (math.nan, "<=", 1.0, False)],
)
def test_check_compares(value, op, thr, ok):
    assert check("x", value, op, thr).passed is ok


def test_check_rejects_unknown_operator():
    with pytest.raises(ValueError):
        check("x", 1.0, "=>", 0.0)


def test_verdict_without_checks_fails():
    v = verdict([], "holds", "fails")
    assert not v.passed and "no check" in v.summary


def test_verdict_passes_only_if_all_checks_pass():
    good, bad = check("a", 1.0, ">=", 0.5), check("b", 0.1, ">=", 0.5)
    assert verdict([good], "holds", "fails").passed
    v = verdict([good, bad], "holds", "fails")
    assert not v.passed and v.summary.startswith("fails") and "FAILED" in v.summary
    assert [c["name"] for c in v.to_dict()["checks"]] == ["a", "b"]


@dataclass
class _Cfg:
    steps: int = param(10, "steps", ge=1)


def _make(name):
    class E(Experiment):
        Config = _Cfg
        presets = {"smoke": {"steps": 1}, "full": {"steps": 100}}

        def run(self, cfg, ctx):
            return Results()

        def verdict(self, results, cfg):
            return verdict([], "", "")

    E.name = name
    return E


def test_registry_presets_patterns_and_unknown_names():
    reg = Registry()
    reg.add(_make("vision.resnet-vs-plain"))
    reg.add(_make("vision.batchnorm"))
    reg.add(_make("gans.fid-bias"))
    assert reg.names("vision.*") == ["vision.batchnorm", "vision.resnet-vs-plain"]
    assert reg.names("fid") == ["gans.fid-bias"]
    cls = reg.get("vision.batchnorm")
    assert cls.config("smoke").steps == 1 and cls.config("quick").steps == 10 and cls.config("full").steps == 100
    assert cls.config("quick", {"steps": "7"}).steps == 7
    with pytest.raises(ConfigError):
        cls.config("huge")
    with pytest.raises(UnknownNameError, match="vision.batchnorm"):
        reg.get("vision.batchnrom")
    with pytest.raises(ValueError):
        reg.add(_make("nodot"))
    with pytest.raises(ValueError):
        reg.add(_make("vision.batchnorm"))
