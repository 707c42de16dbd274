"""Reports: one self-contained HTML page (plots embedded as base64) and a Markdown twin per run,
and a combined page for ``adlab tour`` / ``adlab verify`` / ``adlab report``.

Everything is rebuilt from the files of the run directory, so ``adlab report RUN_DIR`` can
regenerate a report at any time.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adlab.core.errors import UserError
from adlab.core.io import read_json, write_text_atomic

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.3em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:.92em}
th{background:#f4f4f4}.pass{color:#fff;background:#1a7f37;padding:.1em .5em;border-radius:.3em}
.fail{color:#fff;background:#cf222e;padding:.1em .5em;border-radius:.3em}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}code,pre{background:#f6f8fa;padding:.1em .3em}
pre{padding:.6em;overflow:auto;font-size:.85em}.claim{font-style:italic;font-size:1.05em}
"""


@dataclass
class RunRecord:
    """A finished run as read back from its directory."""

    path: Path
    config: dict[str, Any]
    results: dict[str, Any]
    verdict: dict[str, Any]

    @property
    def experiment(self) -> str:
        return self.results.get("experiment", self.config.get("experiment", "?"))

    @property
    def passed(self) -> bool:
        return bool(self.verdict.get("passed"))


def load_run(path: str | Path) -> RunRecord:
    """Read ``config.json``, ``results.json`` and ``verdict.json`` of a run directory."""
    path = Path(path)
    missing = [f for f in ("config.json", "results.json", "verdict.json") if not (path / f).is_file()]
    if not path.is_dir():
        raise UserError(f"{path}: not a run directory (it does not exist)")
    if missing:
        raise UserError(f"{path}: not a finished run directory (missing {', '.join(missing)})")
    try:
        return RunRecord(path, read_json(path / "config.json"), read_json(path / "results.json"), read_json(path / "verdict.json"))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: a run file is not valid JSON ({e})") from None


def _badge(passed: bool) -> str:
    return '<span class="pass">PASS</span>' if passed else '<span class="fail">FAIL</span>'


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _table(rows: list[list[Any]], head: list[str]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{c if isinstance(c, str) and c.startswith('<') else _num(c)}</td>" for c in r) + "</tr>")
    return "".join(out) + "</table>"


def _details_tables(details: dict[str, Any]) -> str:
    parts = []
    for name, value in details.items():
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            head = list(value[0].keys())
            parts.append(f"<h3>{html.escape(name)}</h3>" + _table([[r.get(h, "") for h in head] for r in value], head))
    return "".join(parts)


def run_section(rec: RunRecord, level: int = 1) -> str:
    """The HTML of one run: claim, verdict and checks, metrics, plots, tables, config, model card."""
    h = f"h{level}"
    cfg = rec.config.get("config", {})
    claim = rec.config.get("claim", "")
    checks = rec.verdict.get("checks", [])
    parts = [
        f"<{h} id='{html.escape(rec.experiment)}'>{html.escape(rec.experiment)} {_badge(rec.passed)}</{h}>",
        f"<p class='claim'>Claim: {html.escape(claim)}</p>",
        f"<p><b>Verdict:</b> {html.escape(rec.verdict.get('summary', ''))}</p>",
        _table([[c["name"], c["value"], c["op"], c["threshold"], _badge(c["passed"])] for c in checks], ["check", "measured", "op", "threshold", "result"]),
        f"<p>preset <code>{html.escape(str(rec.results.get('preset')))}</code>, seed {rec.results.get('seed')}, "
        f"device {html.escape(str(rec.config.get('device', '?')))}, wall time {rec.results.get('wall_s', 0):.1f} s, "
        f"run directory <code>{html.escape(str(rec.path))}</code></p>",
        "<h3>Metrics</h3>",
        _table([[k, v] for k, v in rec.results.get("metrics", {}).items()], ["metric", "value"]),
    ]
    for art in rec.results.get("artifacts", []):
        p = rec.path / art
        if p.suffix == ".png" and p.is_file():
            data = base64.b64encode(p.read_bytes()).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(art)}' src='data:image/png;base64,{data}'><figcaption>{html.escape(art)}</figcaption></figure>")
    parts.append(_details_tables(rec.results.get("details", {})))
    parts.append("<h3>Configuration</h3>" + _table([[k, v] for k, v in cfg.items()], ["field", "value"]))
    card = rec.path / "model_card.md"
    if card.is_file():
        parts.append("<h3>Model card</h3><pre>" + html.escape(card.read_text(encoding="utf-8")) + "</pre>")
    return "\n".join(parts)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def run_markdown(rec: RunRecord) -> str:
    """The Markdown twin of :func:`run_section` (plots linked, not embedded)."""
    lines = [
        f"# {rec.experiment}: {'PASS' if rec.passed else 'FAIL'}",
        "",
        f"Claim: {rec.config.get('claim', '')}",
        "",
        f"Verdict: {rec.verdict.get('summary', '')}",
        "",
        "| check | measured | op | threshold | result |",
        "|---|---|---|---|---|",
    ]
    for c in rec.verdict.get("checks", []):
        lines.append(f"| {c['name']} | {_num(c['value'])} | {c['op']} | {_num(c['threshold'])} | {'pass' if c['passed'] else 'FAIL'} |")
    lines += ["", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_num(v)} |" for k, v in rec.results.get("metrics", {}).items()]
    lines.append("")
    lines += [f"![{a}]({a})" for a in rec.results.get("artifacts", []) if a.endswith(".png")]
    return "\n".join(lines) + "\n"


def write_run_report(path: str | Path) -> Path:
    """(Re)write ``report.html`` and ``report.md`` of one run directory; returns the HTML path."""
    rec = load_run(path)
    write_text_atomic(rec.path / "report.md", run_markdown(rec))
    return write_text_atomic(rec.path / "report.html", _page(f"adlab: {rec.experiment}", run_section(rec)))


def summary_rows(records: list[RunRecord]) -> list[list[Any]]:
    """One row per run: experiment, verdict, its checks' numbers, wall time."""
    rows = []
    for r in records:
        # a quantity checked from both sides (a range) is shown once
        numbers = ", ".join(dict.fromkeys(f"{c['name']} {_num(c['value'])}" for c in r.verdict.get("checks", [])))
        rows.append([r.experiment, "PASS" if r.passed else "FAIL", numbers, f"{r.results.get('wall_s', 0):.1f}"])
    return rows


def write_combined_report(records: list[RunRecord], out: str | Path, title: str) -> Path:
    """One page holding a summary table and every run's section; also ``report.md``."""
    out = Path(out)
    head = ["experiment", "verdict", "key numbers", "wall s"]
    rows = [[f"<a href='#{html.escape(r[0])}'>{html.escape(r[0])}</a>", _badge(r[1] == "PASS"), r[2], r[3]] for r in summary_rows(records)]
    passed = sum(r.passed for r in records)
    body = (
        f"<h1>{html.escape(title)}</h1><p>{passed} of {len(records)} verdicts pass.</p>"
        + _table(rows, head)
        + "".join(run_section(r, level=2) for r in records)
    )
    md = [f"# {title}", "", f"{passed} of {len(records)} verdicts pass.", "", "| " + " | ".join(head) + " |", "|---|---|---|---|"]
    md += ["| " + " | ".join(str(c) for c in row) + " | " for row in summary_rows(records)]
    md += [""] + [f"- {r.experiment}: `{r.path}/report.html`" for r in records]
    write_text_atomic(out / "report.md", "\n".join(md) + "\n")
    return write_text_atomic(out / "report.html", _page(title, body))


def results_table_markdown(records: list[RunRecord]) -> str:
    """A Markdown table of runs for the lecture docs: experiment, preset, device, verdict, numbers, time."""
    lines = ["| experiment | preset | device | verdict | measured (threshold) | wall s |", "|---|---|---|---|---|---|"]
    for r in records:
        nums = "; ".join(f"{c['name']} {_num(c['value'])} ({c['op']} {_num(c['threshold'])})" for c in r.verdict.get("checks", []))
        nums = nums.replace("|", "\\|")  # a pipe would end the Markdown cell
        lines.append(
            f"| `{r.experiment}` | {r.results.get('preset')} | {r.config.get('device', '?')} | {'pass' if r.passed else 'FAIL'} | {nums} | {r.results.get('wall_s', 0):.0f} |"
        )
    return "\n".join(lines) + "\n"
