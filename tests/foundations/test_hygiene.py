"""Training-hygiene tools against known answers."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from adlab.foundations.hygiene import (
    DeadUnitMonitor,
    ShapeError,
    WeightNormMonitor,
    assert_elementwise,
    assert_shape,
    dead_fraction,
    overfit_one_batch,
    weight_norms,
)


def test_broadcast_helper_catches_column_plus_row():
    col, row = torch.zeros(5, 1), torch.zeros(5)
    assert (col - row).shape == (5, 5)  # the silent bug the helper exists for
    with pytest.raises(ShapeError, match=r"\(5, 1\) and \(5,\)"):
        assert_elementwise(col, row)
    with pytest.raises(ShapeError):
        assert_elementwise(row, col)


def test_broadcast_helper_allows_matching_and_one_sided_shapes():
    assert assert_elementwise(torch.zeros(5), torch.zeros(5)) == (5,)
    assert assert_elementwise(torch.zeros(4, 3), torch.zeros(3)) == (4, 3)  # bias onto a batch
    assert assert_elementwise(torch.zeros(4, 3), torch.tensor(2.0)) == (4, 3)
    assert assert_elementwise(torch.zeros(5, 1), torch.zeros(5, 1)) == (5, 1)


def test_assert_shape():
    assert_shape(torch.zeros(7, 3), (None, 3))
    with pytest.raises(ShapeError, match=r"expected \(\*, 4\)"):
        assert_shape(torch.zeros(7, 3), (None, 4))
    with pytest.raises(ShapeError):
        assert_shape(torch.zeros(7), (7, 1))


def test_dead_fraction_of_a_layer_with_known_negative_biases():
    # inputs in [0, 1], zero weights: unit j outputs relu(b_j); 3 of 8 biases are negative -> 3/8 dead
    lin = nn.Linear(4, 8)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([-1.0, 0.5, -0.2, 1.0, 0.3, -3.0, 0.1, 2.0]))
    model = nn.Sequential(lin, nn.ReLU(), nn.Linear(8, 1))
    frac = dead_fraction(model, torch.rand(100, 4))
    assert frac == {"1": pytest.approx(3 / 8)}


def test_dead_fraction_counts_units_active_for_some_input():
    # w = +1: unit active for x > 0 only; with inputs spanning both signs it is alive
    lin = nn.Linear(1, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0], [1.0]]))
        lin.bias.copy_(torch.tensor([0.0, -10.0]))  # second unit needs x > 10: dead on [-1, 1]
    frac = dead_fraction(nn.Sequential(lin, nn.ReLU()), torch.linspace(-1, 1, 11)[:, None])
    assert frac["1"] == pytest.approx(0.5)


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 10, generator=g), torch.randint(0, 3, (16,), generator=g)


def test_overfit_one_batch_succeeds_on_a_healthy_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 3))
    rep = overfit_one_batch(model, _batch(), F.cross_entropy, torch.optim.Adam(model.parameters(), lr=1e-2), steps=200)
    assert rep.passed, rep.describe()
    assert rep.final_loss < 1e-2 < rep.initial_loss


def test_overfit_one_batch_fails_with_a_frozen_optimizer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 3))
    rep = overfit_one_batch(model, _batch(), F.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.0), steps=50)
    assert not rep.passed
    assert rep.final_loss == pytest.approx(rep.initial_loss)


def test_overfit_one_batch_fails_when_the_parameters_are_frozen():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 3))
    for p in model.parameters():
        p.requires_grad_(False)
    model[2].bias.requires_grad_(True)  # only the output bias learns: cannot memorise 16 labels
    rep = overfit_one_batch(model, _batch(), F.cross_entropy, torch.optim.Adam([model[2].bias], lr=1e-2), steps=100)
    assert not rep.passed


class _Ctx:
    def __init__(self):
        self.records = []
        self.device = torch.device("cpu")

    def log(self, step, split="train", **metrics):
        self.records.append({"step": step, "split": split, **metrics})


class _Trainer:
    def __init__(self, module):
        self.module, self.ctx, self.name, self.step = module, _Ctx(), "m", 0


def test_monitors_log_per_layer_stats_through_the_context():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.fill_(1.0)  # ||W_0||_F = sqrt(12)
        model[2].weight.fill_(0.5)  # ||W_2||_F = sqrt(8 * 0.25)
        model[0].bias.copy_(torch.tensor([-5.0, -5.0, 1.0, 1.0]))  # inputs in [0, 1]: units 0, 1 dead
    assert weight_norms(model) == {"0.weight": pytest.approx(12**0.5), "2.weight": pytest.approx(2**0.5)}
    tr = _Trainer(model)
    wn, du = WeightNormMonitor(every=1), DeadUnitMonitor(torch.rand(50, 3))
    wn.on_step_end(tr, 1, {})
    du.on_epoch_end(tr, 0, {})
    rec_w, rec_d = tr.ctx.records
    assert rec_w["split"] == "weights" and rec_w["norm/0.weight"] == pytest.approx(12**0.5)
    assert rec_d["split"] == "dead_units" and rec_d["dead/1"] == pytest.approx(0.5)
    assert wn.history and du.history
