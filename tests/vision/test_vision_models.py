"""The model zoo: reference parameter counts at ImageNet scale, forward passes at 28x28, blocks."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from adlab.vision import create_model, list_models
from adlab.vision.arith import conv2d_params, count_macs, count_parameters
from adlab.vision.models import resnet as R
from adlab.vision.models.googlenet import INCEPTION_V1_CONFIG


def build_meta(name, **kw):
    """Build on the meta device: shapes and counts without allocating or initialising weights."""
    with torch.device("meta"):
        return create_model(name, **kw)


# torchvision's (and the papers') counts for 3x224x224 inputs and 1000 classes
IMAGENET_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "vgg11": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840,
    "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248,
    "densenet121": 7_978_856,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "mobilenet_v2": 3_504_872,
    "alexnet": 61_100_840,
    "se_resnet50": 28_088_024,  # Hu et al. (2018): 28.09M
}


@pytest.mark.parametrize("name", sorted(IMAGENET_PARAMS))
def test_imagenet_parameter_counts_match_reference(name):
    model = build_meta(name, num_classes=1000, in_channels=3, image_size=224)
    assert count_parameters(model) == IMAGENET_PARAMS[name]


def test_googlenet_count_is_torchvisions_plus_true_5x5_branches():
    # torchvision's GoogLeNet (6,624,904 without aux heads) uses 3x3 kernels in the "5x5" branch
    extra = sum(c[4] * c[5] * (25 - 9) for c in INCEPTION_V1_CONFIG.values())
    assert count_parameters(build_meta("googlenet")) == 6_624_904 + extra == 7_005_832
    with_aux = build_meta("googlenet", aux_logits=True)
    assert count_parameters(with_aux) > count_parameters(build_meta("googlenet"))


# CIFAR configurations (3x32x32, 10 classes): He et al. (2015) Table 6, Zagoruyko & Komodakis (2016),
# Huang et al. (2017)
CIFAR_PARAMS = {
    "resnet20": 269_722,  # 0.27M
    "resnet56": 853_018,  # 0.85M
    "resnet110": 1_727_962,  # 1.7M
    "plain20": 269_722,  # option A shortcuts have no parameters
    "plain110": 1_727_962,
    "wrn28_10": 36_479_194,  # 36.5M
    "densenet_bc": 769_162,  # 0.8M
}


@pytest.mark.parametrize("name", sorted(CIFAR_PARAMS))
def test_cifar_parameter_counts(name):
    model = build_meta(name, num_classes=10, in_channels=3, image_size=32)
    assert count_parameters(model) == CIFAR_PARAMS[name]


def test_wide_resnet_constructor_and_paper_sizes():
    # Zagoruyko & Komodakis Table 1/4: WRN-40-4 8.9M, WRN-16-8 11.0M, WRN-28-10 36.5M
    for (d, k), millions in {(40, 4): 8.9, (16, 8): 11.0, (28, 10): 36.5, (16, 4): 2.7}.items():
        with torch.device("meta"):
            m = R.wide_resnet(d, k)
        assert round(count_parameters(m) / 1e6, 1) == millions
    with pytest.raises(ValueError, match="6n \\+ 4"):
        R.wide_resnet(27, 2)


def test_lenet5_classic_count():
    assert count_parameters(create_model("lenet5", num_classes=10, in_channels=1, image_size=32)) == 61_706
    # 28x28 inputs are padded to behave as 32x32: same count
    assert count_parameters(create_model("lenet5", num_classes=10, in_channels=1, image_size=28)) == 61_706


# ---------------------------------------------------------------------------
# The lecture's basic block (source error L763)
# ---------------------------------------------------------------------------


def test_basic_block_has_two_3x3_convolutions():
    C = 64
    block = R.BasicBlock(C, C)
    assert block.conv1.kernel_size == (3, 3) and block.conv2.kernel_size == (3, 3)
    two_3x3 = 2 * conv2d_params(C, C, 3, bias=False) + 2 * 2 * C  # + two BNs (gamma, beta)
    assert count_parameters(block) == two_3x3 == 73_984
    # the lecture's text (a 3x3 then a 1x1) would have 41,216
    assert count_parameters(block) != conv2d_params(C, C, 3, bias=False) + conv2d_params(C, C, 1, bias=False) + 4 * C
    # and ResNet-18's count (pinned above) needs the two-3x3 block
    assert count_parameters(build_meta("resnet18")) == IMAGENET_PARAMS["resnet18"]


def test_bottleneck_block_widths():
    block = R.Bottleneck(256, 64)
    shapes = [tuple(c.weight.shape) for c in (block.conv1, block.conv2, block.conv3)]
    assert shapes == [(64, 256, 1, 1), (64, 64, 3, 3), (256, 64, 1, 1)]
    # cheaper than two 3x3 convolutions on 256 channels
    assert count_parameters(block) < 2 * conv2d_params(256, 256, 3, bias=False)


def test_preact_resnet_has_resnet_convolutions():
    for depth in (18, 50):
        v1, v2 = build_meta(f"resnet{depth}"), build_meta(f"preact_resnet{depth}")
        convs = lambda m: sorted(tuple(c.weight.shape) for c in m.modules() if isinstance(c, nn.Conv2d))  # noqa: E731
        assert convs(v1) == convs(v2)


def test_preact_block_order_has_no_relu_after_addition():
    torch.manual_seed(0)
    block = R.PreActBasicBlock(4, 4).eval()
    x = torch.randn(2, 4, 5, 5) - 3  # mostly negative
    y = block(x)
    assert (y < 0).any()  # the identity path carries negatives through: no final ReLU
    v1 = R.BasicBlock(4, 4).eval()
    assert (v1(x) >= 0).all()


def test_squeeze_excitation_scales_channels():
    se = R.SqueezeExcitation(32, reduction=16)
    assert se.fc1.out_channels == 2
    x = torch.rand(3, 32, 4, 4)
    y = se(x)
    ratio = y / x  # one gate in (0, 1) per (example, channel)
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-6)
    assert (ratio > 0).all() and (ratio < 1).all()
    assert count_parameters(build_meta("se_resnet20", num_classes=10, image_size=32)) > CIFAR_PARAMS["resnet20"]


def test_vgg_small_flat_keeps_the_whole_3x3_map():
    kw = dict(num_classes=10, in_channels=1, image_size=28)
    m = create_model("vgg_small_flat", **kw).eval()
    # convs 1->32->64->128 (3x3, bias) with BN, then 128 * 3 * 3 -> 10
    expected = sum(conv2d_params(a, b, 3) + 2 * b for a, b in ((1, 32), (32, 64), (64, 128))) + 1152 * 10 + 10
    assert count_parameters(m) == expected == 104_650
    x = torch.randn(2, 1, 28, 28)
    f = m.features(x)  # (2, 128, 3, 3)
    assert f.shape == (2, 128, 3, 3)
    torch.testing.assert_close(m(x), m.classifier(f.flatten(1)))  # no pooling in between
    g = create_model("vgg_small", **kw).eval()  # the global-average-pooled original: 128 features
    assert g.classifier[-1].in_features == 128
    with pytest.raises(ValueError, match="pooled"):
        create_model("vgg_small", pooled=0, **kw)


def test_vgg_small_fast_pools_before_batch_norm():
    kw = dict(num_classes=10, in_channels=1, image_size=28)
    fast = create_model("vgg_small_fast", **kw)
    flat = create_model("vgg_small_flat", **kw)
    # the same layers, conv biases removed (BN cancels them): 104,650 - (32 + 64 + 128)
    assert count_parameters(fast) == count_parameters(flat) - 224 == 104_426
    kinds = [type(m).__name__ for m in fast.features]
    assert kinds == ["Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"] * 3
    # In eval mode with BN scales > 0, BN and ReLU are increasing per channel, so they commute with
    # the max-pool: copied into vgg_small_flat (zero conv biases), both orders give the same logits.
    torch.manual_seed(0)
    for m in fast.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 2.0)
            m.bias.data.normal_()
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    convs_f = [m for m in fast.features if isinstance(m, torch.nn.Conv2d)]
    convs_r = [m for m in flat.features if isinstance(m, torch.nn.Conv2d)]
    bns_f = [m for m in fast.features if isinstance(m, torch.nn.BatchNorm2d)]
    bns_r = [m for m in flat.features if isinstance(m, torch.nn.BatchNorm2d)]
    for cf, cr in zip(convs_f, convs_r):
        cr.weight.data.copy_(cf.weight.data)
        cr.bias.data.zero_()
    for bf, br in zip(bns_f, bns_r):
        br.load_state_dict(bf.state_dict())
    flat.classifier.load_state_dict(fast.classifier.state_dict())
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(fast.eval()(x), flat.eval()(x), atol=1e-5, rtol=1e-5)
    # in training mode BN's statistics come from the pooled map, so the two differ
    assert not torch.allclose(fast.train()(x), flat.train()(x), atol=1e-3)
    with pytest.raises(ValueError, match="batch_norm"):
        create_model("vgg11", pool_first=True, **kw)


def test_plain_twin_has_no_shortcut():
    torch.manual_seed(0)
    plain = create_model("plain20", num_classes=10, in_channels=1, image_size=28)
    res = create_model("resnet20", num_classes=10, in_channels=1, image_size=28)
    res.load_state_dict(plain.state_dict())  # identical parameters
    plain.eval(), res.eval()
    x = torch.randn(2, 1, 28, 28)
    assert not torch.allclose(plain(x), res(x))
    assert all(not b.residual for b in plain.modules() if isinstance(b, R.CifarBasicBlock))


def test_zero_init_cifar_resnets_of_any_depth_start_as_the_same_function():
    # every block is the identity (or option A's subsample-and-pad), so ResNet-56 computes exactly what
    # ResNet-20 computes once they share the stem and the classifier: deeper costs nothing at the start
    torch.manual_seed(0)
    r20 = create_model("resnet20", num_classes=10, in_channels=1, image_size=28, zero_init_residual=True).eval()
    r56 = create_model("resnet56", num_classes=10, in_channels=1, image_size=28, zero_init_residual=True).eval()
    r56.stem.load_state_dict(r20.stem.state_dict())
    r56.fc.load_state_dict(r20.fc.state_dict())
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(r56(x), r20(x))
    plain = create_model("resnet56", num_classes=10, in_channels=1, image_size=28).eval()
    plain.stem.load_state_dict(r20.stem.state_dict())
    plain.fc.load_state_dict(r20.fc.state_dict())
    assert not torch.allclose(plain(x), r20(x))  # the default (He) init does not have this property
    with pytest.raises(ValueError, match="residual=True"):
        create_model("plain20", zero_init_residual=True)


def test_zero_init_residual_makes_blocks_identity():
    m = create_model("resnet18", num_classes=10, in_channels=1, image_size=28, zero_init_residual=True).eval()
    block = m.layer1[0]
    x = torch.rand(1, 64, 7, 7)
    torch.testing.assert_close(block(x), x)  # ReLU(x + 0) = x for x >= 0


def test_resnet_accepts_our_batch_norm():
    from adlab.nn.normalization import BatchNorm2d

    m = create_model("resnet20", num_classes=10, in_channels=1, image_size=28, norm_layer=BatchNorm2d)
    assert any(isinstance(b, BatchNorm2d) for b in m.modules())
    assert m(torch.randn(2, 1, 28, 28)).shape == (2, 10)


# ---------------------------------------------------------------------------
# Every model at 28x28x1 and (on the meta device) at 224x224x3
# ---------------------------------------------------------------------------

ALL_MODELS = list_models()


def test_zoo_contains_the_lecture_architectures():
    required = [
        "lenet5", "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg19_bn", "googlenet",
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "preact_resnet18", "preact_resnet50",
        "resnet20", "resnet56", "resnet110", "plain20", "plain56", "plain110", "wrn28_10", "wrn40_4",
        "wrn16_4", "densenet121", "densenet_bc", "mobilenet_v2", "se_resnet20", "se_resnet18",
    ]  # fmt: skip
    assert set(required) <= set(ALL_MODELS)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_forward_28x28_grayscale(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1, image_size=28)
    model.eval()
    with torch.no_grad():
        y = model(torch.randn(2, 1, 28, 28))
    assert y.shape == (2, 10)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ["lenet5", "resnet20", "mobilenet_v2", "densenet_bc40", "googlenet"])
def test_training_step_28x28(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1, image_size=28).train()
    x, t = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    loss = nn.functional.cross_entropy(model(x), t)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


IMAGENET_FAMILIES = [
    "alexnet", "vgg11", "vgg16_bn", "googlenet", "resnet18", "resnet50", "preact_resnet18",
    "se_resnet18", "densenet121", "mobilenet_v2",
]  # fmt: skip


@pytest.mark.parametrize("name", IMAGENET_FAMILIES)
def test_forward_224_rgb_shapes_on_meta(name):
    with torch.device("meta"):
        model = create_model(name, num_classes=1000, in_channels=3, image_size=224).eval()
        y = model(torch.empty(2, 3, 224, 224))
    assert y.shape == (2, 1000)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_forward_224_rgb_real(name):
    model = create_model(name, num_classes=1000, in_channels=3, image_size=224).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def test_googlenet_aux_heads_in_training_only():
    model = create_model("googlenet", num_classes=10, in_channels=1, image_size=28, aux_logits=True)
    out = model.train()(torch.randn(2, 1, 28, 28))
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 10)] * 3
    assert model.eval()(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_small_image_variants_documented_changes():
    # ImageNet-style ResNet at 28x28: 3x3 stride-1 stem, no max-pool
    r = create_model("resnet18", num_classes=10, in_channels=1, image_size=28)
    assert r.stem[0].kernel_size == (3, 3) and r.stem[0].stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in r.stem)
    r224 = build_meta("resnet18")
    assert r224.stem[0].kernel_size == (7, 7) and isinstance(r224.stem[3], nn.MaxPool2d)
    # VGG at 28x28: four max-pools (28-14-7-3-1), classifier reads 512 values
    v = create_model("vgg16", num_classes=10, in_channels=1, image_size=28)
    assert sum(isinstance(m, nn.MaxPool2d) for m in v.features) == 4
    assert v.classifier[0].in_features == 512
    # AlexNet at 28x28: 3x3 stride-1 stem, the final 2x2 map is read as it is
    a = create_model("alexnet", num_classes=10, in_channels=1, image_size=28)
    assert a.features[0].kernel_size == (3, 3) and a.classifier[1].in_features == 256 * 2 * 2
    # the override works both ways
    big = build_meta("resnet18", image_size=28, small_input=False)
    assert big.stem[0].kernel_size == (7, 7)


def test_resnet152_needs_fewer_macs_than_vgg19():
    # "the 152-layer model ... requiring fewer computational operations than the 19-layer VGGNet"
    resnet152 = count_macs(build_meta("resnet152"), input_size=(3, 224, 224))
    vgg19 = count_macs(build_meta("vgg19"), input_size=(3, 224, 224))
    assert round(resnet152 / 1e9, 1) == 11.5  # He et al.: 11.3 GFLOPs (multiply-adds)
    assert round(vgg19 / 1e9, 1) == 19.6  # He et al.: 19.6 GFLOPs
    assert resnet152 < vgg19
    assert count_parameters(build_meta("resnet152")) < count_parameters(build_meta("vgg19"))


# ---------------------------------------------------------------------------
# Block forwards against functional references (eval mode, float64)
# ---------------------------------------------------------------------------


def _randomise_batch_norms(module, gen):
    """Random running statistics and affine parameters, so that no BN in eval mode is (near) the identity."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen, dtype=m.running_mean.dtype))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen, dtype=m.running_var.dtype))
                m.weight.copy_(torch.randn(m.num_features, generator=gen, dtype=m.weight.dtype))
                m.bias.copy_(torch.randn(m.num_features, generator=gen, dtype=m.bias.dtype))
    return module


def _prepare(block, seed=0):
    torch.manual_seed(seed)
    block = block.double()
    return _randomise_batch_norms(block, torch.Generator().manual_seed(seed + 1)).eval()


def _bn(bn, x):
    r"""Eval-mode batch norm written out: $\gamma (x - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta$ per channel."""
    shape = (1, -1, 1, 1)
    mu, var = bn.running_mean.view(shape), bn.running_var.view(shape)
    return bn.weight.view(shape) * (x - mu) / torch.sqrt(var + bn.eps) + bn.bias.view(shape)


def _conv3x3(conv, x, stride=1):
    assert conv.kernel_size == (3, 3) and conv.bias is None
    return F.conv2d(x, conv.weight, None, stride=stride, padding=1)


def _conv1x1(conv, x, stride=1):
    assert conv.kernel_size == (1, 1) and conv.bias is None
    return F.conv2d(x, conv.weight, None, stride=stride, padding=0)


def _se_reference(se, x):
    r"""$x \cdot \sigma(W_2\,\mathrm{ReLU}(W_1 \bar x + b_1) + b_2)$ with $\bar x$ the mean over H, W."""
    c = x.shape[1]
    w1, w2 = se.fc1.weight.reshape(-1, c), se.fc2.weight.reshape(c, -1)  # 1x1 convs or linears alike
    pre = x.mean(dim=(2, 3)) @ w1.T + se.fc1.bias  # (B, C/r)
    gate = torch.sigmoid(F.relu(pre) @ w2.T + se.fc2.bias)  # (B, C)
    return x * gate[:, :, None, None], pre


def test_squeeze_excitation_matches_functional_reference():
    se = _prepare(R.SqueezeExcitation(16, reduction=4))
    assert se.fc1.weight.shape[0] == 4
    x = torch.randn(5, 16, 6, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    expected, pre = _se_reference(se, x)
    # the reference only tells the ReLU apart if some hidden units are negative and some positive
    assert (pre < 0).any() and (pre > 0).any()
    # and the mean apart from the max
    assert not torch.allclose(x.mean(dim=(2, 3)), x.amax(dim=(2, 3)))
    torch.testing.assert_close(se(x), expected, rtol=1e-10, atol=1e-12)


def test_zero_pad_shortcut_subsamples_from_the_origin_and_appends_zero_channels():
    x = torch.randn(2, 16, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y = R.ZeroPadShortcut(16, 32, 2)(x)
    expected = torch.cat([x[:, :, ::2, ::2], torch.zeros(2, 16, 4, 4, dtype=torch.float64)], dim=1)
    assert torch.equal(y, expected)
    # odd sizes round up, as a 3x3 / stride-2 / pad-1 convolution does
    x7 = torch.randn(2, 16, 7, 7, dtype=torch.float64)
    y7 = R.ZeroPadShortcut(16, 32, 2)(x7)
    assert y7.shape == (2, 32, 4, 4) == F.conv2d(x7, torch.zeros(32, 16, 3, 3, dtype=x7.dtype), stride=2, padding=1).shape
    assert torch.equal(y7[:, :16], x7[:, :, ::2, ::2]) and not y7[:, 16:].any()


@pytest.mark.parametrize("stride, c_in, se_reduction", [(1, 8, None), (2, 8, None), (2, 8, 4)])
def test_basic_block_matches_functional_reference(stride, c_in, se_reduction):
    planes = 8 if stride == 1 else 16
    downsample = None
    if stride != 1:  # projection shortcut, as ResNet._make_layer builds it for v1 blocks
        downsample = nn.Sequential(R.conv1x1(c_in, planes, stride), nn.BatchNorm2d(planes))
    block = _prepare(R.BasicBlock(c_in, planes, stride, downsample, se_reduction=se_reduction))
    x = torch.randn(3, c_in, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    inner = _bn(block.bn1, _conv3x3(block.conv1, x, stride))
    assert (inner < 0).any()  # so the inner ReLU matters
    residual = _bn(block.bn2, _conv3x3(block.conv2, F.relu(inner)))
    if se_reduction:
        residual = _se_reference(block.se, residual)[0]
    shortcut = x if downsample is None else _bn(downsample[1], _conv1x1(downsample[0], x, stride))
    expected = F.relu(residual + shortcut)
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-12)


def test_bottleneck_matches_functional_reference():
    c_in, planes, stride = 16, 8, 2
    downsample = nn.Sequential(R.conv1x1(c_in, planes * 4, stride), nn.BatchNorm2d(planes * 4))
    block = _prepare(R.Bottleneck(c_in, planes, stride, downsample))
    x = torch.randn(2, c_in, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    out = F.relu(_bn(block.bn1, _conv1x1(block.conv1, x)))
    out = F.relu(_bn(block.bn2, _conv3x3(block.conv2, out, stride)))  # the stride sits on the 3x3
    out = _bn(block.bn3, _conv1x1(block.conv3, out))
    expected = F.relu(out + _bn(downsample[1], _conv1x1(downsample[0], x, stride)))
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_cifar_basic_block_stride_2_matches_functional_reference(shortcut):
    block = _prepare(R.CifarBasicBlock(16, 32, stride=2, shortcut=shortcut))
    x = torch.randn(2, 16, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    inner = _bn(block.bn1, _conv3x3(block.conv1, x, 2))
    assert (inner < 0).any()
    residual = _bn(block.bn2, _conv3x3(block.conv2, F.relu(inner)))
    if shortcut == "A":  # option A: subsample, then zero channels appended after the 16 input channels
        short = torch.cat([x[:, :, ::2, ::2], torch.zeros(2, 16, 4, 4, dtype=x.dtype)], dim=1)
    else:  # option B: 1x1 projection with BN
        short = _bn(block.shortcut[1], _conv1x1(block.shortcut[0], x, 2))
    torch.testing.assert_close(block(x), F.relu(residual + short), rtol=1e-10, atol=1e-12)
    # the plain twin has the same residual branch and no shortcut
    plain = _prepare(R.CifarBasicBlock(16, 32, stride=2, residual=False))
    residual = _bn(plain.bn2, _conv3x3(plain.conv2, F.relu(_bn(plain.bn1, _conv3x3(plain.conv1, x, 2)))))
    torch.testing.assert_close(plain(x), F.relu(residual), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_preact_basic_block_matches_functional_reference(stride):
    c_in, planes = 8, 8 if stride == 1 else 16
    # v2 projection: a bare 1x1 convolution on the pre-activated input (ResNet._make_layer)
    downsample = None if stride == 1 else R.conv1x1(c_in, planes, stride)
    block = _prepare(R.PreActBasicBlock(c_in, planes, stride, downsample))
    x = torch.randn(2, c_in, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    pre = F.relu(_bn(block.bn1, x))
    residual = _conv3x3(block.conv2, F.relu(_bn(block.bn2, _conv3x3(block.conv1, pre, stride))))
    shortcut = x if downsample is None else _conv1x1(downsample, pre, stride)
    torch.testing.assert_close(block(x), residual + shortcut, rtol=1e-10, atol=1e-12)


def test_preact_bottleneck_matches_functional_reference():
    c_in, planes, stride = 16, 8, 2
    downsample = R.conv1x1(c_in, planes * 4, stride)
    block = _prepare(R.PreActBottleneck(c_in, planes, stride, downsample))
    x = torch.randn(2, c_in, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    pre = F.relu(_bn(block.bn1, x))
    out = _conv1x1(block.conv1, pre)
    out = _conv3x3(block.conv2, F.relu(_bn(block.bn2, out)), stride)
    out = _conv1x1(block.conv3, F.relu(_bn(block.bn3, out)))
    torch.testing.assert_close(block(x), out + _conv1x1(downsample, pre, stride), rtol=1e-10, atol=1e-12)
    # identity shortcut (c_in == 4 * planes, stride 1): x itself, not its pre-activation
    block = _prepare(R.PreActBottleneck(32, 8))
    x = torch.randn(2, 32, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    pre = F.relu(_bn(block.bn1, x))
    out = _conv1x1(block.conv3, F.relu(_bn(block.bn3, _conv3x3(block.conv2, F.relu(_bn(block.bn2, _conv1x1(block.conv1, pre)))))))
    torch.testing.assert_close(block(x), out + x, rtol=1e-10, atol=1e-12)


# DenseNet, MobileNetV2, GoogLeNet and Wide ResNet blocks


def test_dense_layer_block_and_transition_match_functional_references():
    from adlab.vision.models.densenet import DenseBlock, DenseLayer, Transition

    x = torch.randn(2, 6, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(10))

    def layer_ref(layer, features):  # BN-ReLU-conv1x1 - BN-ReLU-conv3x3 on the concatenated inputs: k new maps
        h = torch.cat(features, 1)
        pre1 = _bn(layer.norm1, h)
        pre2 = _bn(layer.norm2, _conv1x1(layer.conv1, F.relu(pre1)))
        assert (pre1 < 0).any() and (pre2 < 0).any()  # both ReLUs matter
        return _conv3x3(layer.conv2, F.relu(pre2))

    layer = _prepare(DenseLayer(6, growth_rate=4, bn_size=2))
    assert layer.conv1.weight.shape == (8, 6, 1, 1) and layer.conv2.weight.shape == (4, 8, 3, 3)
    f = [x[:, :2], x[:, 2:]]  # a list of earlier maps is read as their concatenation, in list order
    torch.testing.assert_close(layer(f), layer_ref(layer, f), rtol=1e-10, atol=1e-12)

    # a block returns [x_0, x_1, x_2]: the input first, then each layer's new maps in order
    block = _prepare(DenseBlock(2, 6, growth_rate=4, bn_size=2), seed=11)
    assert block.out_channels == 6 + 2 * 4
    l1, l2 = block.values()
    x1 = layer_ref(l1, [x])
    x2 = layer_ref(l2, [x, x1])
    torch.testing.assert_close(block(x), torch.cat([x, x1, x2], 1), rtol=1e-10, atol=1e-12)

    # transition: BN-ReLU-conv1x1 (compression), then a 2x2 average pool
    trans = _prepare(Transition(6, 3), seed=12)
    bn, conv = trans[0], trans[2]
    pre = _bn(bn, x)
    assert (pre < 0).any()
    expected = F.avg_pool2d(_conv1x1(conv, F.relu(pre)), 2)
    torch.testing.assert_close(trans(x), expected, rtol=1e-10, atol=1e-12)


def _depthwise3x3(conv, x, stride=1):
    assert conv.kernel_size == (3, 3) and conv.bias is None and conv.groups == conv.in_channels == conv.out_channels
    assert conv.weight.shape == (conv.out_channels, 1, 3, 3)
    return F.conv2d(x, conv.weight, None, stride=stride, padding=1, groups=conv.groups)


@pytest.mark.parametrize(
    "c_in, c_out, stride, t, residual",
    [(8, 8, 1, 3, True), (8, 8, 2, 3, False), (8, 12, 1, 3, False), (8, 8, 1, 1, True), (8, 16, 2, 1, False)],
)
def test_inverted_residual_matches_functional_reference(c_in, c_out, stride, t, residual):
    from adlab.vision.models.mobilenet import InvertedResidual

    block = _prepare(InvertedResidual(c_in, c_out, stride, expand_ratio=t), seed=13)
    with torch.no_grad():  # wider BN outputs, so that ReLU6's upper clamp is reached
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.mul_(4)
    x = 3 * torch.randn(2, c_in, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(14))
    layers = list(block.conv)
    pres = []
    h = x
    if t != 1:  # 1x1 expansion to t * c_in maps, BN, ReLU6
        expand = layers.pop(0)
        pres.append(_bn(expand[1], _conv1x1(expand[0], h)))
        h = F.relu6(pres[-1])
    else:  # no expansion convolution at all
        assert len(layers) == 3
    dw, project, bn = layers
    assert h.shape[1] == t * c_in
    pres.append(_bn(dw[1], _depthwise3x3(dw[0], h, stride)))  # 3x3 depth-wise (the stride), BN, ReLU6
    out = _bn(bn, _conv1x1(project, F.relu6(pres[-1])))  # 1x1 projection, BN, no nonlinearity
    # the clamps at 0 and at 6 are both active somewhere, and the projection has negative outputs
    assert all((p < 0).any() and (p > 6).any() for p in pres) and (out < 0).any()
    expected = x + out if residual else out
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-12)
    assert block.use_res_connect is residual


@pytest.mark.parametrize("batch_norm", [True, False])
def test_inception_module_matches_functional_reference(batch_norm):
    from adlab.vision.models.googlenet import Inception

    # (in, n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_proj): all branches of different widths
    block = _prepare(Inception(6, 2, 3, 4, 2, 5, 3, batch_norm=batch_norm), seed=15)
    assert block.out_channels == 2 + 4 + 5 + 3
    x = torch.randn(2, 6, 7, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(16))

    def basic(seq, h, k):  # conv (k x k, "same") - BN (eps 1e-3) if batch_norm, else a conv bias - ReLU
        conv = seq[0]
        assert conv.kernel_size == (k, k) and (conv.bias is None) == batch_norm
        h = F.conv2d(h, conv.weight, conv.bias, padding=k // 2)
        if batch_norm:
            assert isinstance(seq[1], nn.BatchNorm2d) and seq[1].eps == 1e-3
            h = _bn(seq[1], h)
        else:
            assert not any(isinstance(m, nn.BatchNorm2d) for m in seq)
        assert (h < 0).any()
        return F.relu(h)

    b1 = basic(block.branch1, x, 1)
    b2 = basic(block.branch2[1], basic(block.branch2[0], x, 1), 3)
    b3 = basic(block.branch3[1], basic(block.branch3[0], x, 1), 5)
    b4 = basic(block.branch4[1], F.max_pool2d(x, 3, stride=1, padding=1), 1)  # 3x3 max-pool, stride 1
    # the paper's order: 1x1, 3x3, 5x5, pool projection
    torch.testing.assert_close(block(x), torch.cat([b1, b2, b3, b4], 1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("stage, index", [("layer1", 0), ("layer1", 1), ("layer2", 0)])
def test_wide_resnet_block_matches_functional_reference(stage, index):
    torch.manual_seed(0)
    model = R.wide_resnet(16, 2, num_classes=10, dropout=0.3)  # widths 32, 64, 128; two blocks per stage
    assert all(b.dropout.p == 0.3 for b in model.modules() if isinstance(b, R.PreActBasicBlock))
    block = _prepare(getattr(model, stage)[index], seed=17)
    assert isinstance(block.dropout, nn.Dropout)
    c_in, planes = block.conv1.in_channels, block.conv1.out_channels
    stride = 2 if stage == "layer2" else 1
    x = torch.randn(2, c_in, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(18))

    def reference(drop):
        pre = F.relu(_bn(block.bn1, x))
        mid = _bn(block.bn2, _conv3x3(block.conv1, pre, stride))
        assert (mid < 0).any()
        residual = _conv3x3(block.conv2, drop(F.relu(mid)))  # dropout between the two convolutions
        if block.downsample is None:  # identity: x itself, not its pre-activation
            assert c_in == planes and stride == 1
            return residual + x
        return residual + _conv1x1(block.downsample, pre, stride)  # 1x1 projection of the pre-activation

    assert (block.downsample is None) == (stage == "layer1" and index == 1)
    # eval mode: dropout is the identity
    torch.testing.assert_close(block(x), reference(lambda h: h), rtol=1e-10, atol=1e-12)
    # training mode, the BNs in eval mode: the same dropout mask (same seed) at the same place
    block.train()
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    torch.manual_seed(19)
    y = block(x)
    torch.manual_seed(19)
    torch.testing.assert_close(y, reference(lambda h: F.dropout(h, 0.3, training=True)), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(y, reference(lambda h: h))
