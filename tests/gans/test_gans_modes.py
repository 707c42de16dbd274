import math

import pytest
import torch

from adlab.gans.modes import (
    GRID_STD,
    RING_STD,
    evaluate_modes,
    grid_modes,
    mode_report,
    ring_modes,
    sample_grid,
    sample_ring,
)


def test_mode_layouts():
    ring = ring_modes()
    assert ring.shape == (8, 2)
    torch.testing.assert_close(ring.norm(dim=1), torch.full((8,), 2.0))
    grid = grid_modes()
    assert grid.shape == (25, 2)
    assert float(grid.min()) == -4 and float(grid.max()) == 4
    assert sorted(set(grid[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert RING_STD == 0.02 and GRID_STD == 0.05


@pytest.mark.parametrize("sampler, modes, std", [(sample_ring, ring_modes(), RING_STD), (sample_grid, grid_modes(), GRID_STD)])
def test_true_samples_cover_every_mode_with_high_quality(sampler, modes, std):
    x = sampler(2500, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2500, 2)
    covered, hq = evaluate_modes(x, modes, std)
    assert covered == len(modes)
    # 2-D 3-sigma rule: P(|eps| <= 3 sigma) = 1 - exp(-4.5) ~ 0.989
    assert hq == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    report = mode_report(x, modes, std)
    assert int(report.counts.sum()) == round(hq * 2500)
    assert report.kl_to_uniform < 0.05


def test_samples_at_one_mode_cover_one():
    modes = grid_modes()
    x = modes[7] + GRID_STD * torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    covered, hq = evaluate_modes(x, modes, GRID_STD)
    assert covered == 1 and hq > 0.97
    assert mode_report(x, modes, GRID_STD).kl_to_uniform == pytest.approx(math.log(25), rel=1e-6)


def test_uniform_noise_has_low_quality():
    x = torch.rand(2500, 2, generator=torch.Generator().manual_seed(2)) * 10 - 5
    _, hq_ring = evaluate_modes(x, ring_modes(), RING_STD)
    _, hq_grid = evaluate_modes(x, grid_modes(), GRID_STD)
    assert hq_ring < 0.01 and hq_grid < 0.05


def test_min_count_and_std_matter():
    modes = ring_modes()
    x = torch.cat([modes[0].expand(10, 2), modes[1].expand(2, 2)])
    assert evaluate_modes(x, modes, RING_STD)[0] == 2
    assert evaluate_modes(x, modes, RING_STD, min_count=5)[0] == 1
    off = modes[:1] + torch.tensor([[0.1, 0.0]])  # 5 sigma away at std 0.02
    assert evaluate_modes(off, modes, 0.02) == (0, 0.0)
    assert evaluate_modes(off, modes, 0.05) == (1, 1.0)
    with pytest.raises(ValueError):
        evaluate_modes(torch.randn(5, 3), modes, 0.02)


def test_mode_collapse_runs_in_worker_processes_give_the_sequential_results(tmp_path):
    """Spreading the independent runs over processes changes nothing but the wall time."""
    import json

    from adlab.core import runner

    out = {}
    for workers in (1, 2):
        runner.run("gans.mode-collapse", preset="smoke", overrides={"workers": workers, "steps_ring": 5, "steps_grid": 5},
                   out=tmp_path / f"w{workers}", device="cpu")
        out[workers] = json.loads((tmp_path / f"w{workers}" / "results.json").read_text())
    key = lambda rows: sorted(rows, key=lambda r: (r["benchmark"], r["method"], r["seed"]))  # noqa: E731
    assert key(out[1]["details"]["runs"]) == key(out[2]["details"]["runs"])
    assert out[1]["metrics"] == out[2]["metrics"]
