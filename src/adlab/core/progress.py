"""Progress display: a rich progress bar with ETA on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any

from adlab.core import distributed


class Progress:
    """Report progress of ``total`` steps; use as a context manager and call :meth:`update`.

    On a terminal (and on rank 0) it draws a rich bar with elapsed time and ETA; otherwise it
    prints a plain line about every ``every_frac`` of the run (and at the end).
    """

    def __init__(self, total: int, desc: str, every_frac: float = 0.1, stream: Any = None) -> None:
        self.total = max(int(total), 1)
        self.desc = desc
        self.stream = stream or sys.stderr
        self.every = max(1, int(self.total * every_frac))
        self.done = 0
        self.start = time.perf_counter()
        self.enabled = distributed.is_main()
        self.fancy = self.enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar = None
        self._task = None

    def __enter__(self) -> "Progress":
        if self.fancy:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.desc, total=self.total, info="")
        return self

    def update(self, n: int = 1, **info: float) -> None:
        """Advance by ``n`` steps; ``info`` (e.g. loss=0.3) is shown beside the bar."""
        self.done += n
        text = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, info=text)
        elif self.enabled and (self.done % self.every == 0 or self.done >= self.total):
            elapsed = time.perf_counter() - self.start
            eta = elapsed / max(self.done, 1) * (self.total - self.done)
            pct = 100.0 * self.done / self.total
            print(
                f"[{self.desc}] {self.done}/{self.total} ({pct:.0f}%) {text} elapsed {elapsed:.1f}s eta {eta:.1f}s",
                file=self.stream,
                flush=True,
            )

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
