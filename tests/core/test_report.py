import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from adlab.core.errors import UserError  # noqa: E402
from adlab.core.report import load_run, results_table_markdown, write_combined_report, write_run_report  # noqa: E402


def _fake_run(path: Path, passed: bool) -> Path:
    (path / "plots").mkdir(parents=True)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    fig.savefig(path / "plots" / "curve.png")
    plt.close(fig)
    (path / "config.json").write_text(json.dumps({"experiment": "x.y", "claim": "A <b>claim</b>.", "device": "cpu", "config": {"lr": 0.1}}))
    (path / "results.json").write_text(json.dumps({"experiment": "x.y", "preset": "quick", "seed": 0, "metrics": {"acc": 0.5}, "artifacts": ["plots/curve.png"], "wall_s": 1.5}))
    check = {"name": "max |err|", "value": 0.5, "op": ">=", "threshold": 0.9, "passed": passed}
    (path / "verdict.json").write_text(json.dumps({"passed": passed, "summary": "s", "checks": [check]}))
    return path


def test_run_report_is_self_contained_and_escaped(tmp_path):
    page = write_run_report(_fake_run(tmp_path / "r", False)).read_text()
    assert "data:image/png;base64," in page and "src='plots/" not in page
    assert "&lt;b&gt;claim&lt;/b&gt;" in page  # user text is escaped, not injected
    assert "FAIL" in page and (tmp_path / "r" / "report.md").is_file()


def test_combined_report_counts_and_markdown_table(tmp_path):
    recs = [load_run(_fake_run(tmp_path / "a", True)), load_run(_fake_run(tmp_path / "b", False))]
    page = write_combined_report(recs, tmp_path / "all", "t").read_text()
    assert "1 of 2 verdicts pass" in page
    table = results_table_markdown(recs)
    row = table.splitlines()[2]
    assert row.count("|") - row.count("\\|") == 7  # six cells: the check's own pipes are escaped


def test_load_run_rejects_unfinished_or_damaged(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_run(tmp_path / "nope")
    run = _fake_run(tmp_path / "r", True)
    (run / "verdict.json").unlink()
    with pytest.raises(UserError, match="missing verdict.json"):
        load_run(run)
    (run / "verdict.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_run(run)


def test_spearman_matches_scipy():
    import numpy as np
    from scipy.stats import spearmanr

    from adlab.metrics.stats import spearman

    rng = np.random.default_rng(0)
    for n in (2, 5, 40):
        a, b = rng.standard_normal(n), rng.standard_normal(n)
        assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert spearman([1.0], [2.0]) == 0.0
    with pytest.raises(ValueError):
        spearman([1, 2], [1, 2, 3])


def test_summary_shows_a_range_checked_quantity_once(tmp_path):
    from adlab.core.report import summary_rows

    rec = load_run(_fake_run(tmp_path / "r", True))
    low = {"name": "acc", "value": 0.85, "op": ">=", "threshold": 0.83, "passed": True}
    rec.verdict["checks"] = [low, {**low, "op": "<=", "threshold": 0.87}, {"name": "loss", "value": 0.4, "op": "<", "threshold": 1, "passed": True}]
    assert summary_rows([rec])[0][2] == "acc 0.85, loss 0.4"
