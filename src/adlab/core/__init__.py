"""The runner shared by every lecture: registry, configs, run context, training loop,
checkpoints, seeding, progress, distributed support and reports."""

from adlab.core.config import param
from adlab.core.context import ModelCard, RunContext
from adlab.core.registry import REGISTRY, Check, Experiment, Results, Verdict, check, experiment, verdict

__all__ = [
    "REGISTRY",
    "Check",
    "Experiment",
    "ModelCard",
    "Results",
    "RunContext",
    "Verdict",
    "check",
    "experiment",
    "param",
    "verdict",
]
