"""The regularisation experiment's pieces: symmetric label noise and the stacked MLPs against torch."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from adlab.foundations.exp_training import RegularisationConfig, _forward_stack, _init_stack, _train_stack, flip_labels


def test_flip_labels_changes_exactly_the_fraction_and_never_to_the_true_class():
    y = np.repeat(np.arange(10), 50)  # 500 labels
    noisy = flip_labels(y, 0.2, 10, np.random.default_rng(0))
    changed = noisy != y
    assert changed.sum() == 100  # round(0.2 * 500), and none of them kept its class
    assert noisy.min() >= 0 and noisy.max() <= 9
    assert np.array_equal(y, np.repeat(np.arange(10), 50))  # the input is not modified
    # the new class is uniform over the 9 others: over many draws every offset 1..9 appears about equally
    offsets = np.concatenate([(flip_labels(y, 0.5, 10, np.random.default_rng(s)) - y)[flip_labels(y, 0.5, 10, np.random.default_rng(s)) != y] % 10
                              for s in range(20)])
    counts = np.bincount(offsets, minlength=10)
    assert counts[0] == 0
    assert np.all(np.abs(counts[1:] / counts[1:].sum() - 1 / 9) < 0.02)
    assert np.array_equal(flip_labels(y, 0.0, 10, np.random.default_rng(0)), y)


def _as_sequential(params: list[torch.Tensor], m: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(params) // 2):
        W, b = params[2 * i][m], params[2 * i + 1][m, 0]
        lin = nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(W.T)
            lin.bias.copy_(b)
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def test_stacked_forward_equals_each_mlp_built_from_nn_linear():
    params = _init_stack([64, 16, 16, 10], [3, 4, 5])
    x = torch.rand(7, 64)
    z = _forward_stack(params, x)  # (3, 7, 10)
    for m in range(3):
        torch.testing.assert_close(z[m], _as_sequential(params, m)(x), rtol=1e-5, atol=1e-6)


def test_stacked_training_equals_training_each_mlp_alone_with_torch_sgd():
    # no dropout or noise (deterministic); L2 as lambda/2 ||W||^2 on weights only, momentum 0.9
    cfg = RegularisationConfig(hidden=8, epochs=5, lr=0.1, eval_every=5, seeds=1)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(20, 64, generator=g), torch.randint(0, 10, (20,), generator=g)
    data = (x, y, x[:5], y[:5], x[5:10], y[5:10])
    lam = 1e-2
    c = _train_stack([("none", 0.0), ("l2", lam)], cfg, data, seed=0)
    for s, (kind, model_seed) in enumerate([("none", 0), ("l2", 0)]):
        net = _as_sequential(_init_stack([64, 8, 8, 10], [model_seed]), 0)
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for _ in range(5):
            loss = F.cross_entropy(net(x), y)
            if kind == "l2":
                loss = loss + 0.5 * lam * sum(m.weight.pow(2).sum() for m in net if isinstance(m, nn.Linear))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            train_loss = F.cross_entropy(net(x), y).item()
        assert abs(c["train_loss"][s, 0, -1] - train_loss) < 1e-5
