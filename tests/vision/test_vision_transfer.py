"""vision.transfer building blocks: the L-BFGS linear probe against scikit-learn, the frozen variants'
readouts (which parameters train, feature sizes), and the rate chosen on the validation split."""

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from adlab.core import runner
from adlab.vision.exp_features import SmallConvNet, StagePool, Transfer, TransferConfig, linear_probe


def test_linear_probe_matches_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 6, generator=g) * torch.tensor([1.0, 5.0, 0.1, 2.0, 1.0, 3.0]) + 2.0  # (N, D), uneven scales
    y = (x[:, :3] @ torch.randn(3, 3, generator=g)).argmax(1)
    l2 = 0.05
    head = linear_probe(nn.Identity(), x, y, 3, l2)
    # sklearn minimises C sum_n CE_n + ||W||^2 / 2 (intercept unpenalised): the same problem when C = 1 / (N l2)
    x_np = x.double().numpy()
    mu, sd = x_np.mean(0), x_np.std(0, ddof=1)
    ref = LogisticRegression(C=1 / (len(x) * l2), tol=1e-10, max_iter=10000).fit((x_np - mu) / sd, y.numpy())
    p_ref = ref.predict_proba((x_np - mu) / sd)
    with torch.no_grad():
        p = torch.softmax(head(x), 1).double().numpy()
    assert np.abs(p - p_ref).max() < 1e-4


@pytest.mark.parametrize("readout,dim", [("pooled", 8), ("stages", 12), ("map", 8 * 49)])
def test_frozen_readouts_train_only_the_linear_head(readout, dim):
    torch.manual_seed(0)
    base = SmallConvNet(5, 4)
    model = Transfer._model("frozen", base, TransferConfig(width=4, frozen_features=readout))
    assert model.head.in_features == dim
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 5)


def test_stage_pool_reads_both_stages_of_the_pretrained_features():
    torch.manual_seed(0)
    base = SmallConvNet(5, 4).eval()
    x = torch.randn(2, 1, 28, 28)
    f = StagePool(base.features)(x)  # (2, 3C)
    assert torch.allclose(f[:, 4:], base.features(x), atol=1e-6)  # the last 2C are the network's own pooled features
    assert torch.allclose(f[:, :4], base.features[:7](x).mean((2, 3)), atol=1e-6)


def test_stage1_variant_freezes_stage_1_and_trains_a_new_stage_2():
    torch.manual_seed(0)
    base = SmallConvNet(5, 4)
    model = Transfer._model("frozen", base, TransferConfig(width=4, frozen_features="stage1"))
    assert all(not p.requires_grad for p in model.features.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    assert not torch.equal(model.head[0][0].weight, base.features[7].weight)  # stage 2 re-initialised


def test_rates_are_chosen_from_the_grid_on_the_validation_split(tmp_path):
    overrides = {"lr_grid": [0.01, 0.3], "l2_grid": [1e-3, 1.0], "val_per_class": 3}
    runner.run("vision.transfer", preset="smoke", out=tmp_path / "run", device="cpu", overrides=overrides)
    chosen = json.loads((tmp_path / "run" / "results.json").read_text())["details"]["learning_rates"]
    assert [(c["variant"], c["draw"]) for c in chosen] == [("frozen", 0), ("finetune", 0), ("scratch", 0)]
    for c in chosen:
        key, grid = ("l2", overrides["l2_grid"]) if c["variant"] == "frozen" else ("lr", overrides["lr_grid"])
        val = c["validation_accuracy"]
        val = {float(h): a for h, a in val.items()}  # JSON keys are strings
        assert set(val) == set(grid) and c[key] in grid
        assert val[c[key]] == max(val.values())


def test_validation_split_must_leave_training_images(tmp_path):
    with pytest.raises(ValueError, match="val_per_class"):
        runner.run("vision.transfer", preset="smoke", out=tmp_path / "run", device="cpu", overrides={"lr_grid": [0.1], "val_per_class": 10})
