"""adlab.vision.recipe and the experiment building blocks: schedule, loss, augmentation in training only,
parameter groups, frozen features, few-label sampling, 3x3-vs-5x5 blocks, vgg_small."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from adlab.core.context import RunContext
from adlab.vision import arith, create_model
from adlab.vision.exp_blocks import BNNet, KernelNet, conv_block
from adlab.vision.exp_features import FrozenFeatures, SmallConvNet, few_labels
from adlab.vision.recipe import AugmentedClassification, Recipe, fit, lr_schedule, one_cycle_factor, param_groups, standard_augmentation


@pytest.mark.parametrize("total,warmup", [(100, 0.25), (37, 0.3), (400, 0.1)])
def test_one_cycle_matches_torch(total, warmup):
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.4)
    ref = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.4, total_steps=total, pct_start=warmup, anneal_strategy="cos", cycle_momentum=False,
        div_factor=25.0, final_div_factor=1e4,
    )
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step() if len(lrs) < total else None
    ours = [0.4 * one_cycle_factor(t, total, warmup) for t in range(total)]
    assert max(abs(a - b) for a, b in zip(ours, lrs)) < 1e-9


@pytest.mark.parametrize("total", [1, 2, 3, 5])
def test_one_cycle_handles_tiny_runs(total):
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = lr_schedule(opt, total, "onecycle")
    seen = []
    for _ in range(total):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert all(0 < v <= 1.0 for v in seen) and abs(seen[0] - 1 / 25) < 1e-12
    assert lr_schedule(opt, 10, "constant") is None
    with pytest.raises(ValueError):
        lr_schedule(opt, 10, "linear")


def test_smoothed_loss_matches_its_definition_and_augments_only_in_training():
    calls = []

    class Mark:
        def __call__(self, x, generator=None):
            calls.append(x.shape)
            return x * 0.0

    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
    x, y = torch.randn(8, 1, 4, 4), torch.randint(0, 4, (8,))
    eps = 0.2
    task = AugmentedClassification(label_smoothing=eps, transform=Mark())
    loss, _ = task.train_step(model, (x, y))
    assert calls == [x.shape]
    # the transform zeroed the images: the loss is that of the bias alone
    logp = F.log_softmax(model(torch.zeros_like(x)), -1)
    target = (1 - eps) * F.one_hot(y, 4) + eps / 4
    assert torch.allclose(loss, -(target * logp).sum(-1).mean(), atol=1e-6)
    stats = task.eval_step(model, (x, y))
    assert len(calls) == 1 and stats["count"] == 8
    assert torch.allclose(stats["loss"], F.cross_entropy(model(x), y, reduction="sum"))


def test_amp_runs_the_forward_in_bf16_on_a_cpu_and_stays_close_to_fp32():
    seen = []
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    model[3].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    x, y = torch.randn(64, 1, 4, 4), torch.randint(0, 4, (64,))
    loss32, _ = AugmentedClassification().train_step(model, (x, y))
    loss16, _ = AugmentedClassification(amp=True).train_step(model, (x, y))
    assert seen == [torch.float32, torch.bfloat16]  # autocast took effect on the CPU
    assert loss16.dtype == torch.float32  # the loss is taken in fp32
    # bf16 keeps 8 bits of mantissa: the loss agrees to about 1%
    assert loss16.item() == pytest.approx(loss32.item(), rel=2e-2)
    assert not torch.equal(loss16, loss32)


def test_standard_augmentation_keeps_shape_and_can_be_off():
    t = standard_augmentation(2, True, 0.5)
    x = torch.randn(5, 1, 28, 28)
    assert t(x, torch.Generator().manual_seed(0)).shape == x.shape
    assert standard_augmentation(0, False, 0.0) is None


@pytest.mark.parametrize("padding,flip,erasing", [(2, True, 0.5), (3, False, 1.0), (0, True, 0.0), (0, False, 0.7)])
def test_standard_augmentation_is_the_documented_pipeline(padding, flip, erasing):
    from adlab.vision import augment

    t = standard_augmentation(padding, flip, erasing)
    assert isinstance(t, augment.Compose)
    parts = t.transforms
    expected_types = [augment.RandomCrop] * (padding > 0) + [augment.RandomHorizontalFlip] * flip + [augment.RandomErasing] * (erasing > 0)
    assert [type(p) for p in parts] == expected_types
    for p in parts:
        if isinstance(p, augment.RandomCrop):  # pad and crop back to the input size, zero padding
            assert p.size is None and p.padding == padding and p.padding_mode == "constant" and p.fill == 0.0
        elif isinstance(p, augment.RandomHorizontalFlip):
            assert p.p == 0.5
        else:
            assert p.p == erasing and p.scale == (0.02, 0.25) and p.value == 0.0
    # the same draws as a hand-built pipeline under the same seed
    ref = augment.Compose(
        [augment.RandomCrop(None, padding=padding)] * (padding > 0)
        + [augment.RandomHorizontalFlip(0.5)] * flip
        + [augment.RandomErasing(p=erasing, scale=(0.02, 0.25))] * (erasing > 0)
    )
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) + 0.5  # no zeros
    y = t(x, torch.Generator().manual_seed(3))
    assert y.shape == x.shape
    assert torch.equal(y, ref(x, torch.Generator().manual_seed(3)))
    assert not torch.equal(y, x)
    if erasing > 0 and padding == 0:
        # only erasing writes zeros: each erased image holds one zero rectangle of 2%-25% of the area
        zero_frac = (y == 0).flatten(1).float().mean(1)
        erased = zero_frac > 0
        assert erased.any() and (zero_frac[erased] >= 0.02).all() and (zero_frac[erased] <= 0.25).all()


def test_param_groups_do_not_decay_vectors():
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    decay, no_decay = param_groups(m, 5e-4)
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(m.parameters()))


def test_fit_lowers_the_loss_and_is_deterministic(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 1, 8, 8, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    recipe = Recipe(epochs=4, batch_size=32, lr=0.05, crop_padding=1, flip=True, label_smoothing=0.0)
    results = []
    for run in range(2):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        ctx = RunContext(tmp_path / f"r{run}", "t", "smoke", 0, torch.device("cpu"))
        ctx.out.mkdir()
        res = fit("m", model, recipe, (x, y), ctx, evals={"train": (x, y)})
        results.append([h["train"]["loss"] for h in res.history])
    assert results[0] == results[1]
    assert results[0][-1] < results[0][0]


def test_stacked_3x3_block_has_5x5_field_and_28_percent_fewer_weights():
    for c in (4, 16, 32):
        w5 = sum(m.weight.numel() for m in conv_block(c, "5x5") if isinstance(m, nn.Conv2d))
        w3 = sum(m.weight.numel() for m in conv_block(c, "3x3x2") if isinstance(m, nn.Conv2d))
        assert (w5, w3) == (25 * c * c, 18 * c * c)
        assert math.isclose(1 - w3 / w5, 0.28)
    assert arith.receptive_field(conv_block(4, "5x5"))[-1].size == 5
    assert arith.receptive_field(conv_block(4, "3x3x2"))[-1].size == 5
    with pytest.raises(ValueError):
        conv_block(4, "7x7")
    for k in ("5x5", "3x3x2"):
        assert KernelNet(k, 8)(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_bn_net_uses_our_batch_norm_or_none():
    from adlab.nn.normalization import BatchNorm2d

    assert sum(isinstance(m, BatchNorm2d) for m in BNNet(True, 4).modules()) == 4
    assert not any(isinstance(m, (BatchNorm2d, nn.BatchNorm2d)) for m in BNNet(False, 4).modules())


def test_frozen_features_stay_fixed_while_the_head_learns():
    torch.manual_seed(0)
    base = SmallConvNet(5, 4)
    model = FrozenFeatures(base.features, nn.Linear(8, 5))
    before = {k: v.clone() for k, v in model.features.state_dict().items()}
    head_before = model.head.weight.detach().clone()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    assert not model.features.training and model.head.training
    for _ in range(3):
        loss = F.cross_entropy(model(torch.randn(8, 1, 28, 28)), torch.randint(0, 5, (8,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.features.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN running statistics
    assert not torch.equal(head_before, model.head.weight)


def test_few_labels_draws_per_class():
    y = torch.arange(10).repeat(30)
    idx = few_labels(y, [5, 6, 7], 4, torch.Generator().manual_seed(0))
    assert len(idx) == 12 and len(set(idx.tolist())) == 12
    assert torch.equal(y[idx], torch.tensor([5] * 4 + [6] * 4 + [7] * 4))
    with pytest.raises(ValueError):
        few_labels(y, [5], 31, torch.Generator())


def test_vgg_small_size_and_cost():
    m = create_model("vgg_small", num_classes=10, in_channels=1, image_size=28)
    # convs 1-32-64-128 (3x3 + bias) with BN, one linear layer 128-10
    convs = (9 * 1 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 128 + 128)
    bns = 2 * (32 + 64 + 128)
    fcs = 128 * 10 + 10
    assert arith.count_parameters(m) == convs + bns + fcs == 94_410
    macs = 28 * 28 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 7 * 7 * 128 * 64 * 9 + 128 * 10
    assert arith.count_macs(m, input_size=(1, 28, 28)) == macs
    # the ImageNet configuration keeps its three-layer classifier
    assert len(create_model("vgg11", num_classes=10, in_channels=1, image_size=28).classifier) == 7


def test_compiled_fit_matches_eager_and_keeps_checkpoint_names(tmp_path):
    """Recipe(compile=...) trains the same numbers as eager mode; parameter names stay the eager model's."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 1, 8, 8, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    runs = {}
    for mode in (None, "default"):
        recipe = Recipe(epochs=2, batch_size=32, lr=0.05, crop_padding=1, flip=True, label_smoothing=0.0, compile=mode)
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        ctx = RunContext(tmp_path / str(mode), "t", "smoke", 0, torch.device("cpu"))
        ctx.out.mkdir()
        res = fit("m", model, recipe, (x, y), ctx, evals={"train": (x, y)})
        assert isinstance(res.trainer.model, torch._dynamo.eval_frame.OptimizedModule) == (mode is not None)
        runs[mode] = ([h["train"]["loss"] for h in res.history], model.state_dict())
    assert runs["default"][0] == pytest.approx(runs[None][0], abs=1e-5)
    assert list(runs["default"][1]) == list(runs[None][1])  # no "_orig_mod." prefixes
    for k, v in runs[None][1].items():
        torch.testing.assert_close(runs["default"][1][k], v, atol=1e-5, rtol=1e-5)


def test_unknown_compile_mode_is_refused(tmp_path):
    ctx = RunContext(tmp_path, "t", "smoke", 0, torch.device("cpu"))
    with pytest.raises(ValueError, match="compile"):
        fit("m", nn.Linear(2, 2), Recipe(compile="fastest"), (torch.randn(4, 2), torch.zeros(4, dtype=torch.long)), ctx)


def _nesterov_model():
    """A conv with a bias, a batch norm and a linear layer, in float64."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)
    ).double()


def test_sgd_nesterov_matches_a_hand_written_nesterov_update():
    import copy

    from adlab.vision.recipe import sgd_nesterov

    lr, mu, wd = 0.1, 0.7, 0.05  # not the defaults, so that each argument must be passed through
    model = _nesterov_model()
    ref = copy.deepcopy(model)
    opt = sgd_nesterov(model, lr, momentum=mu, weight_decay=wd)
    # the docstring's rule: weights (conv kernels, linear matrices) are decayed; biases and BN's scale and shift are not
    decayed = {name: name.endswith("weight") and not isinstance(ref.get_submodule(name.rsplit(".", 1)[0]), nn.BatchNorm2d)
               for name, _ in ref.named_parameters()}
    assert sorted(n for n, d in decayed.items() if d) == ["0.weight", "4.weight"]
    bufs = {name: torch.zeros_like(p) for name, p in ref.named_parameters()}
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 2, 4, 4, generator=g, dtype=torch.float64), torch.randint(0, 2, (6,), generator=g)
    for _ in range(3):
        for m in (model, ref):
            m.zero_grad()
            F.cross_entropy(m(x), y).backward()
        opt.step()
        with torch.no_grad():  # torch's documented Nesterov SGD: v = mu v + g,  p -= lr (g + mu v)
            for name, p in ref.named_parameters():
                grad = p.grad + wd * p if decayed[name] else p.grad
                bufs[name] = mu * bufs[name] + grad
                p -= lr * (grad + mu * bufs[name])
        # float64 agreement up to rounding (torch fuses some multiply-adds, so not bit for bit)
        for (name, p), q in zip(model.named_parameters(), ref.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-15, msg=lambda m, name=name: f"{name}: {m}")
    # three steps moved every parameter but the conv's bias, whose gradient the batch norm after it cancels:
    # left in place, it shows that biases are not decayed (decay alone would shrink it by a factor ~0.98)
    start = dict(_nesterov_model().named_parameters())
    for name, p in model.named_parameters():
        moved = (p - start[name]).abs().max().item()
        assert moved < 1e-12 if name == "0.bias" else moved > 1e-4, (name, moved)


def test_predict_in_batches_is_one_eval_pass_and_restores_the_mode():
    import copy

    from adlab.vision.recipe import predict

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)
    ).double()
    with torch.no_grad():  # running statistics far from a batch's, so that train and eval modes differ
        model[1].running_mean.uniform_(-1.0, 1.0)
        model[1].running_var.uniform_(2.0, 4.0)
    x = torch.randn(20, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model.eval()(x)  # (20, 3), one pass
        torch.manual_seed(2)  # (a copy: a training-mode pass would update the running statistics)
        assert not torch.allclose(copy.deepcopy(model).train()(x), expected, atol=1e-2)  # the mode matters here
    for training in (True, False):
        model.train(training)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        out = predict(model, x, batch_size=7)  # batches of 7, 7 and 6
        assert out.shape == (20, 3) and not out.requires_grad
        torch.testing.assert_close(out, expected.float(), rtol=1e-6, atol=1e-6)
        assert model.training is training
        assert all(m.training is training for m in model.modules())
        # eval mode: the batch norm's running statistics were not updated
        assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
