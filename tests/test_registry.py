"""Every registered experiment: its smoke preset runs and yields a verdict; the ci=True flagships'
quick verdicts pass. Parametrized over the registry, so a new experiment is tested without new code."""

import json
import math

import pytest

import adlab.catalog  # noqa: F401
from adlab.core import runner
from adlab.core.config import fields_of
from adlab.core.registry import PRESETS, REGISTRY, Results

NAMES = REGISTRY.names()
CI = [n for n in NAMES if REGISTRY.get(n).ci]


def test_registry_is_filled_by_the_catalog():
    assert "foundations.linear-softmax" in NAMES
    assert CI, "at least one fast flagship must be asserted in CI"


@pytest.mark.parametrize("name", NAMES)
def test_contract(name):
    cls = REGISTRY.get(name)
    assert cls.claim and cls.claim.endswith(".") and len(cls.claim) > 30
    assert set(cls.presets) <= set(PRESETS) and "smoke" in cls.presets and "full" in cls.presets
    for spec in fields_of(cls.Config):
        assert spec.doc, f"{name}: field {spec.name} has no docstring"
    for preset in PRESETS:
        cls.config(preset)  # every preset validates


@pytest.mark.parametrize("name", NAMES)
def test_smoke_preset_runs_and_judges(name, tmp_path):
    rec = runner.run(name, preset="smoke", out=tmp_path / "run", device="cpu")
    assert isinstance(rec.passed, bool) and rec.verdict["checks"], f"{name}: a verdict needs checks"
    assert rec.results["metrics"] and (tmp_path / "run" / "report.html").is_file()
    # the verdict can fail: with every measured number replaced by NaN, no check may pass
    cls = REGISTRY.get(name)
    cfg = cls.config("smoke")
    blind = Results(
        metrics={k: math.nan for k in rec.results["metrics"]}, artifacts=rec.results["artifacts"], details=rec.results.get("details", {})
    )
    assert not cls().verdict(blind, cfg).passed, f"{name}: its verdict passes without measurements"
    assert json.loads((tmp_path / "run" / "results.json").read_text())["preset"] == "smoke"


@pytest.mark.slow
@pytest.mark.parametrize("name", CI)
def test_ci_flagship_quick_verdict_passes(name, tmp_path):
    rec = runner.run(name, preset="quick", out=tmp_path / "run", device="cpu")
    assert rec.passed, rec.verdict["summary"]
