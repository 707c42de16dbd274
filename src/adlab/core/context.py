"""The run context handed to ``Experiment.run``: where to write, what device, how to log.

A run directory looks like::

    runs/<experiment>/<timestamp>/
        config.json  metrics.jsonl  results.json  verdict.json  report.html  report.md
        model_card.md  plots/*.png  checkpoint/<model>/step-*/

Only rank 0 writes files; every rank gets the same directory.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from adlab.core import distributed
from adlab.core.io import jsonable, write_text_atomic
from adlab.core.progress import Progress



def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on a CPU): call before reading a wall clock."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
"""The ``torch.compile`` modes that adlab's training loops accept."""


def cudagraph_steps(mode: str | None, device: torch.device | str) -> bool:
    """Whether training steps compiled in ``mode`` on ``device`` replay CUDA graphs, and so must
    call ``torch.compiler.cudagraph_mark_step_begin()`` at each step's start (a graph may reuse
    the previous step's output memory)."""
    return mode in ("reduce-overhead", "max-autotune") and torch.device(device).type == "cuda"


@dataclass
class ModelCard:
    """What a user must know about a trained model before reusing it."""

    name: str
    architecture: str
    parameters: int
    data: str
    training: dict[str, Any]
    metrics: dict[str, float]
    intended_use: str
    limitations: str

    def to_markdown(self) -> str:
        lines = [
            f"## {self.name}",
            "",
            f"- **Architecture:** {self.architecture}",
            f"- **Parameters:** {self.parameters:,}",
            f"- **Data:** {self.data}",
            f"- **Intended use:** {self.intended_use}",
            f"- **Limitations:** {self.limitations}",
            "",
            "**Training configuration**",
            "",
            "| setting | value |",
            "|---|---|",
            *[f"| {k} | {v} |" for k, v in self.training.items()],
            "",
            "**Metrics**",
            "",
            "| metric | value |",
            "|---|---|",
            *[f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in self.metrics.items()],
            "",
        ]
        return "\n".join(lines)


@dataclass
class RunContext:
    """Everything ``Experiment.run`` needs besides its config."""

    out: Path
    experiment: str
    preset: str
    seed: int
    device: torch.device
    resume: bool = False
    model_cards: list[ModelCard] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    _tb: Any = None

    @property
    def is_main(self) -> bool:
        return distributed.is_main()

    @property
    def plots(self) -> Path:
        path = self.out / "plots"
        if self.is_main:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def checkpoint_dir(self, name: str = "model") -> Path:
        """Folder of the checkpoints of the model called ``name``."""
        return self.out / "checkpoint" / name

    # --- metrics ----------------------------------------------------------------------------

    def log(self, step: int, split: str = "train", **metrics: float) -> None:
        """Append one record to ``metrics.jsonl`` (and TensorBoard when it is installed)."""
        if not self.is_main:
            return
        record = {"step": int(step), "split": split, "time": round(time.time(), 3), **jsonable(metrics)}
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        tb = self._tensorboard()
        if tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    tb.add_scalar(f"{split}/{k}", v, step)

    def _tensorboard(self) -> Any:
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:  # tensorboard is optional
                self._tb = False
                return None
            self._tb = SummaryWriter(log_dir=str(self.out / "tensorboard"))
        return self._tb or None

    def truncate_metrics(self, step: int, model: str | None = None) -> None:
        """On resume, drop records written after ``step`` so the log matches an uninterrupted run.

        With ``model`` given, only that model's records (``"model": name``) are considered.
        """
        path = self.out / "metrics.jsonl"
        if not self.is_main or not path.exists():
            return
        keep = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the kill
            if (model is None or rec.get("model") == model) and rec.get("step", 0) > step:
                continue
            keep.append(line)
        write_text_atomic(path, "".join(k + "\n" for k in keep))

    def read_metrics(self) -> list[dict]:
        """All records of ``metrics.jsonl``."""
        path = self.out / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]

    # --- artifacts --------------------------------------------------------------------------

    def save_figure(self, fig: Any, name: str) -> str:
        """Save a matplotlib figure as ``plots/<name>.png``; returns its path relative to the run."""
        import matplotlib.pyplot as plt

        rel = f"plots/{name}.png"
        if self.is_main:
            path = self.plots / f"{name}.png"
            tmp = path.with_name(f".{path.name}.tmp.png")
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
            tmp.replace(path)
            if rel not in self.artifacts:
                self.artifacts.append(rel)
        plt.close(fig)
        return rel

    def add_model_card(self, card: ModelCard) -> None:
        """Record a trained model's card; the runner writes them all to ``model_card.md``."""
        self.model_cards = [c for c in self.model_cards if c.name != card.name] + [card]
        if self.is_main:
            self.write_model_cards()

    def write_model_cards(self) -> None:
        if not self.model_cards:
            return
        head = f"# Model cards: {self.experiment} ({self.preset} preset, seed {self.seed})\n\n"
        write_text_atomic(self.out / "model_card.md", head + "\n".join(c.to_markdown() for c in self.model_cards))
        if "model_card.md" not in self.artifacts:
            self.artifacts.append("model_card.md")

    def progress(self, total: int, desc: str | None = None) -> Progress:
        """A progress display for ``total`` steps."""
        return Progress(total, desc or self.experiment)

    def close(self) -> None:
        if self._tb:
            self._tb.close()
