"""adlab.nn.normalization.BatchNorm1d/2d against torch.nn.BatchNorm1d/2d."""

import pytest
import torch
import torch.nn as nn

from adlab.nn.normalization import BatchNorm1d, BatchNorm2d, batch_norm_backward, replace_batchnorm

ATOL = 1e-5


def _pair(kind, C, **kw):
    torch.manual_seed(0)
    ours = {"1d": BatchNorm1d, "2d": BatchNorm2d}[kind](C, **kw)
    ref = {"1d": nn.BatchNorm1d, "2d": nn.BatchNorm2d}[kind](C, **kw)
    if ours.affine:
        with torch.no_grad():
            g, b = torch.randn(C) * 0.5 + 1, torch.randn(C) * 0.1
            ours.weight.copy_(g), ref.weight.copy_(g)
            ours.bias.copy_(b), ref.bias.copy_(b)
    return ours, ref


SHAPES = {"2d": (8, 3, 5, 4), "1d": (16, 3), "1d3": (6, 3, 7)}


@pytest.mark.parametrize("shape_key", ["2d", "1d", "1d3"])
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_training_outputs_gradients_and_running_stats_match_torch(shape_key, momentum):
    kind = "2d" if shape_key == "2d" else "1d"
    shape = SHAPES[shape_key]
    ours, ref = _pair(kind, shape[1], momentum=momentum)
    g = torch.Generator().manual_seed(1)
    for step in range(5):
        x = (torch.randn(shape, generator=g) * 3 + 2).requires_grad_(True)
        x2 = x.detach().clone().requires_grad_(True)
        y, y_ref = ours(x), ref(x2)
        torch.testing.assert_close(y, y_ref, atol=ATOL, rtol=0)
        w = torch.randn(shape, generator=g)
        (y * w).sum().backward()
        (y_ref * w).sum().backward()
        torch.testing.assert_close(x.grad, x2.grad, atol=ATOL, rtol=0)
        torch.testing.assert_close(ours.weight.grad, ref.weight.grad, atol=ATOL, rtol=0)
        torch.testing.assert_close(ours.bias.grad, ref.bias.grad, atol=ATOL, rtol=0)
        ours.zero_grad(), ref.zero_grad()
        torch.testing.assert_close(ours.running_mean, ref.running_mean, atol=ATOL, rtol=0)
        torch.testing.assert_close(ours.running_var, ref.running_var, atol=ATOL, rtol=0)
        assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == step + 1
    # eval mode: normalised by the running statistics, equal to torch's
    ours.eval(), ref.eval()
    x = torch.randn(shape, generator=g)
    torch.testing.assert_close(ours(x), ref(x), atol=ATOL, rtol=0)


def test_running_variance_is_unbiased_and_eval_uses_running_stats():
    bn = BatchNorm2d(2, momentum=1.0)  # running stats = the last batch's
    x = torch.randn(4, 2, 3, 3) * 2 + 5
    bn(x)
    m = 4 * 3 * 3
    mean = x.mean(dim=(0, 2, 3))
    var_biased = x.var(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(bn.running_mean, mean)
    torch.testing.assert_close(bn.running_var, var_biased * m / (m - 1))
    bn.eval()
    single = x[:1]
    expected = (single - mean.view(1, 2, 1, 1)) / torch.sqrt(bn.running_var.view(1, 2, 1, 1) + bn.eps)
    torch.testing.assert_close(bn(single), expected)
    # in eval mode an example's output does not depend on its batch
    torch.testing.assert_close(bn(x)[:1], bn(single))


def test_training_output_is_standardised():
    bn = BatchNorm2d(3)
    y = bn(torch.randn(10, 3, 4, 4) * 7 - 3)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3, rtol=0)


@pytest.mark.parametrize("kw", [dict(affine=False), dict(track_running_stats=False), dict(eps=1e-3)])
def test_options_match_torch(kw):
    ours, ref = _pair("2d", 3, **kw)
    x = torch.randn(5, 3, 4, 4)
    torch.testing.assert_close(ours(x), ref(x), atol=ATOL, rtol=0)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x), ref(x), atol=ATOL, rtol=0)
    assert set(ours.state_dict()) == set(ref.state_dict())


def test_state_dict_loads_both_ways():
    ref = nn.BatchNorm2d(4)
    ref(torch.randn(6, 4, 3, 3))
    ours = BatchNorm2d(4)
    ours.load_state_dict(ref.state_dict())
    back = nn.BatchNorm2d(4)
    back.load_state_dict(ours.state_dict())
    ours.eval(), ref.eval()
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(ours(x), ref(x), atol=ATOL, rtol=0)


def test_closed_form_backward_matches_autograd():
    torch.manual_seed(3)
    x = torch.randn(6, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    gamma = torch.randn(3, dtype=torch.float64, requires_grad=True)
    beta = torch.randn(3, dtype=torch.float64, requires_grad=True)
    y = nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    g = torch.randn_like(y)
    dx, dgamma, dbeta = torch.autograd.grad(y, (x, gamma, beta), g)
    mx, mgamma, mbeta = batch_norm_backward(g, x.detach(), gamma.detach(), eps=1e-5)
    torch.testing.assert_close(mx, dx)
    torch.testing.assert_close(mgamma, dgamma)
    torch.testing.assert_close(mbeta, dbeta)


def test_bad_inputs():
    with pytest.raises(ValueError, match="4D"):
        BatchNorm2d(3)(torch.randn(2, 3))
    with pytest.raises(ValueError, match="channels"):
        BatchNorm2d(3)(torch.randn(2, 4, 2, 2))
    with pytest.raises(ValueError, match="more than 1 value"):
        BatchNorm1d(3)(torch.randn(1, 3))


def test_replace_batchnorm_keeps_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(36, 5), nn.BatchNorm1d(5))
    x = torch.randn(8, 1, 5, 5)
    model(x)
    model.eval()
    expected = model(x)
    replace_batchnorm(model)
    assert isinstance(model[1], BatchNorm2d) and isinstance(model[5], BatchNorm1d)
    torch.testing.assert_close(model(x), expected, atol=ATOL, rtol=0)


# ---------------------------------------------------------------- added by mutation review


@pytest.mark.parametrize("momentum", [0.1, None])
def test_eval_forward_does_not_count_batches_or_move_running_stats(momentum):
    ours, ref = _pair("2d", 3, momentum=momentum)
    x = torch.randn(4, 3, 2, 2) * 2 + 1
    ours(x), ref(x)
    ours.eval(), ref.eval()
    ours(x), ref(x)
    ours.train(), ref.train()
    x2 = torch.randn(4, 3, 2, 2) - 1
    torch.testing.assert_close(ours(x2), ref(x2), atol=ATOL, rtol=0)
    assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == 2
    torch.testing.assert_close(ours.running_mean, ref.running_mean, atol=ATOL, rtol=0)
    torch.testing.assert_close(ours.running_var, ref.running_var, atol=ATOL, rtol=0)


def test_reset_parameters_matches_torch():
    ours, ref = _pair("1d", 4)
    x = torch.randn(8, 4) * 3 + 2
    for _ in range(3):
        ours(x), ref(x)
    ours.reset_parameters(), ref.reset_parameters()
    for key, val in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], val, rtol=0, atol=0)


def test_replace_batchnorm_nested_keeps_dtype_momentum_and_training_behaviour():
    import copy

    torch.manual_seed(0)
    inner = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3, momentum=0.5))
    ref = nn.Sequential(inner, nn.ReLU(), nn.Flatten(), nn.Linear(27, 4), nn.BatchNorm1d(4, momentum=None)).double()
    ref(torch.randn(6, 2, 5, 5, dtype=torch.float64))  # non-trivial running statistics and counters
    ours = replace_batchnorm(copy.deepcopy(ref))
    assert isinstance(ours[0][1], BatchNorm2d) and isinstance(ours[4], BatchNorm1d)
    x = torch.randn(6, 2, 5, 5, dtype=torch.float64)
    for _ in range(2):  # training steps: same outputs, same running statistics (momentum 0.5 and cumulative)
        y, y_ref = ours(x), ref(x)
        assert y.dtype == torch.float64
        torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    for key, val in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], val, rtol=1e-7, atol=1e-8)
