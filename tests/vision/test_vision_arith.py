"""adlab.vision.arith: output sizes, receptive fields, parameter and MAC counts."""

import math

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from adlab.vision import arith
from adlab.vision.arith import (
    Layer,
    conv2d_macs,
    conv2d_params,
    conv_output_size,
    count_macs,
    count_parameters,
    full_output_size,
    layer_table,
    linear_macs,
    linear_params,
    receptive_field,
    same_output_size,
    valid_output_size,
)

# ---------------------------------------------------------------------------
# The lecture's worked numbers
# ---------------------------------------------------------------------------


def test_lecture_9x9_with_3x3_kernel():
    assert valid_output_size(9, 3) == 7  # "there are only seven possible offsets"
    assert same_output_size(9, 3) == 9  # one row of zeros around the image
    assert valid_output_size(9, 3, stride=2) == 4  # "a valid convolution with a stride of 2 ... 4x4"
    assert full_output_size(9, 3) == 11  # input + kernel - 1
    assert conv_output_size(9, 3, padding="valid") == 7
    assert conv_output_size(9, 3, padding="same") == 9
    assert conv_output_size(9, 3, padding="full") == 11
    assert conv_output_size(9, 3, padding=1) == 9
    assert arith.conv_output_shape((9, 9), 3, 2) == (4, 4)


def test_lecture_two_stacked_3x3_see_5x5_with_28_percent_fewer_weights():
    rf = receptive_field([Layer(3), Layer(3)])
    assert [r.size for r in rf] == [3, 5]
    assert receptive_field([Layer(5)])[-1].size == 5
    C = 64
    stacked = 2 * conv2d_params(C, C, 3, bias=False)
    single = conv2d_params(C, C, 5, bias=False)
    assert stacked == 2 * 9 * C**2 and single == 25 * C**2
    assert 1 - stacked / single == pytest.approx(0.28)
    # three 3x3 see 7x7 (VGG): 27 C^2 vs 49 C^2
    assert receptive_field([3, 3, 3])[-1].size == 7


def test_lecture_alexnet_first_layer_arithmetic():
    # an 11x11 stride-4 convolution on 224 pixels gives 56 only with padding 4 or 5
    assert conv_output_size(224, 11, 4, padding=0) == 54
    assert conv_output_size(224, 11, 4, padding=2) == 55  # torchvision's AlexNet
    assert conv_output_size(224, 11, 4, padding=4) == 56
    assert conv_output_size(224, 11, 4, padding=5) == 56
    assert {p for p in range(8) if conv_output_size(224, 11, 4, p) == 56} == {4, 5}
    assert conv_output_size(227, 11, 4, padding=0) == 55  # the 2012 paper's 227-pixel crops
    # then the lecture's 2x2 max-pool: 56x56x96 -> 28x28x96
    assert arith.pool_output_size(56, 2) == 28
    conv = nn.Conv2d(3, 96, 11, 4, 4)
    y = nn.MaxPool2d(2)(conv(torch.zeros(1, 3, 224, 224)))
    assert tuple(conv(torch.zeros(1, 3, 224, 224)).shape) == (1, 96, 56, 56)
    assert tuple(y.shape) == (1, 96, 28, 28)
    # resolution / 4 costs / 16: MACs of the stride-4 layer vs the same layer at stride 1
    assert conv2d_macs(3, 96, 11, 56) * 16 == conv2d_macs(3, 96, 11, 224)


def test_fully_vs_locally_connected_vs_convolutional_parameter_counts():
    # 28x28x1 image to a 26x26x8 map: dense, local (3x3, no sharing), convolution
    dense = arith.fully_connected_params((1, 28, 28), (8, 26, 26), bias=False)
    local = arith.locally_connected_params(1, 8, 3, 26, bias=False)
    conv = conv2d_params(1, 8, 3, bias=False)
    assert dense == 784 * 8 * 676
    assert local == 676 * 72 and conv == 72
    assert dense > local > conv


def test_depthwise_and_separable_counts():
    assert conv2d_params(32, 32, 3, groups=32, bias=False) == 32 * 9
    assert arith.separable_conv2d_params(32, 64, 3, bias=False) == 32 * 9 + 32 * 64
    dw = nn.Conv2d(32, 32, 3, groups=32, bias=False)
    assert count_parameters(dw) == conv2d_params(32, 32, 3, groups=32, bias=False)


def test_same_padding_for_even_kernels_and_strides():
    assert arith.padding_amount("same", 4) == (1, 2)
    assert arith.padding_amount("same", 3, dilation=2) == (2, 2)
    for n in range(1, 20):
        for s in (1, 2, 3):
            assert same_output_size(n, 3, s) == math.ceil(n / s)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="does not fit"):
        conv_output_size(3, 5)
    with pytest.raises(ValueError, match="padding"):
        conv_output_size(9, 3, padding="bogus")
    with pytest.raises(ValueError):
        conv_output_size(9, 3, stride=0)


# ---------------------------------------------------------------------------
# Output sizes against torch
# ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 40),
    k=st.integers(1, 7),
    s=st.integers(1, 4),
    p=st.integers(0, 4),
    d=st.integers(1, 3),
)
def test_conv_output_size_matches_torch_conv2d(n, k, s, p, d):
    if n + 2 * p < d * (k - 1) + 1:
        with pytest.raises(ValueError):
            conv_output_size(n, k, s, p, d)
        return
    conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
    y = conv(torch.zeros(1, 1, n, n + 1))
    assert y.shape[-2:] == arith.conv_output_shape((n, n + 1), k, s, p, d)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 30), k=st.integers(1, 6), d=st.integers(1, 3))
@pytest.mark.filterwarnings("ignore:Using padding=.same.")
def test_same_padding_matches_torch_same(n, k, d):
    conv = nn.Conv2d(1, 1, k, padding="same", dilation=d, bias=False)
    assert conv(torch.zeros(1, 1, n, n)).shape[-1] == same_output_size(n, k, dilation=d) == n


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 40), k=st.integers(2, 5), s=st.integers(1, 3), ceil=st.booleans(), data=st.data())
def test_pool_output_size_matches_torch_maxpool(n, k, s, ceil, data):
    p = data.draw(st.integers(0, k // 2))
    if n + 2 * p < k:
        return
    pool = nn.MaxPool2d(k, s, p, ceil_mode=ceil)
    assert pool(torch.zeros(1, 1, n, n)).shape[-1] == arith.pool_output_size(n, k, s, p, ceil_mode=ceil)


# ---------------------------------------------------------------------------
# Receptive field against the gradient support
# ---------------------------------------------------------------------------


def _gradient_support(layers: list[Layer], n: int) -> tuple[int, int, int]:
    """Input columns that the centre output unit depends on: (first, last, output index)."""
    mods = []
    for L in layers:
        conv = nn.Conv2d(1, 1, (1, L.kernel), (1, L.stride), (0, L.padding), (1, L.dilation), bias=False)
        nn.init.ones_(conv.weight)  # positive weights: no cancellation in the gradient
        mods.append(conv)
    net = nn.Sequential(*mods)
    x = torch.ones(1, 1, 1, n, dtype=torch.float64, requires_grad=True)
    y = net.double()(x)
    i = y.shape[-1] // 2
    y[0, 0, 0, i].backward()
    nz = (x.grad[0, 0, 0] != 0).nonzero().flatten()
    return int(nz.min()), int(nz.max()), i


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 3)),
        min_size=1,
        max_size=4,
    )
)
def test_receptive_field_matches_gradient_support(specs):
    layers = [Layer(k, s, min(p, (d * (k - 1)) // 2), d) for k, s, p, d in specs]
    rf = receptive_field(layers)[-1]
    n = rf.size + 4 * rf.jump + 2 * rf.size  # wide enough that the centre unit avoids the padding
    first, last, i = _gradient_support(layers, n)
    centre = rf.start + i * rf.jump
    lo, hi = centre - (rf.size - 1) / 2, centre + (rf.size - 1) / 2
    assert 0 <= lo and hi <= n - 1  # the centre unit's field lies inside the input
    assert (first, last) == (lo, hi)
    assert last - first + 1 == rf.size


def test_receptive_field_of_a_module_and_output_sizes():
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1), nn.MaxPool2d(2)
    )
    rows = receptive_field(net, input_size=28)
    assert [(r.size, r.jump) for r in rows] == [(3, 1), (4, 2), (8, 2), (10, 4)]
    assert [r.output_size for r in rows] == [28, 14, 14, 7]
    assert rows[0].start == 0.0 and rows[1].start == 0.5


# ---------------------------------------------------------------------------
# Parameters and MACs by hooks against a hand formula
# ---------------------------------------------------------------------------


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5)  # 28 -> 24
        self.pool = nn.MaxPool2d(2)  # 24 -> 12
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)  # 12 -> 6
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)  # 6 -> 6
        self.fc1 = nn.Linear(16 * 6 * 6, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.dw(torch.relu(self.conv2(x)))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def test_macs_and_params_match_hand_formula():
    net = SmallNet()
    expected_macs = (
        conv2d_macs(1, 8, 5, 24)
        + conv2d_macs(8, 16, 3, 6)
        + conv2d_macs(16, 16, 3, 6, groups=16)
        + linear_macs(576, 32)
        + linear_macs(32, 10)
    )
    assert expected_macs == 24 * 24 * 8 * 25 + 6 * 6 * 16 * 8 * 9 + 6 * 6 * 16 * 9 + 576 * 32 + 320
    expected_params = (
        conv2d_params(1, 8, 5)
        + conv2d_params(8, 16, 3)
        + conv2d_params(16, 16, 3, groups=16, bias=False)
        + linear_params(576, 32)
        + linear_params(32, 10)
    )
    assert count_parameters(net) == expected_params == 208 + 1168 + 144 + 18464 + 330
    assert count_macs(net, input_size=(1, 28, 28)) == expected_macs
    # per example: a batch of 5 gives the same count
    assert count_macs(net, input=torch.zeros(5, 1, 28, 28)) == expected_macs
    rows = layer_table(net, input_size=(1, 28, 28))
    assert [r.name for r in rows] == ["conv1", "conv2", "dw", "fc1", "fc2"]
    assert [r.output_shape for r in rows] == [(1, 8, 24, 24), (1, 16, 6, 6), (1, 16, 6, 6), (1, 32), (1, 10)]
    assert sum(r.params for r in rows) == expected_params
    full = layer_table(net, input_size=(1, 28, 28), all_leaves=True)
    assert "pool" in [r.name for r in full]
    text = arith.format_table(rows)
    assert "total" in text and f"{expected_macs:,}" in text


def test_layer_table_restores_training_mode_and_runs_on_meta():
    net = SmallNet().train()
    layer_table(net, input_size=(1, 28, 28))
    assert net.training
    meta = SmallNet().to("meta")
    assert count_macs(meta, input_size=(1, 28, 28)) == count_macs(SmallNet(), input_size=(1, 28, 28))


def test_count_parameters_shared_and_trainable():
    lin = nn.Linear(4, 4)
    net = nn.Sequential(lin, nn.ReLU(), lin)
    assert count_parameters(net) == 20
    lin.bias.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == 16


# ---------------------------------------------------------------------------
# MACs of transposed convolutions and bilinear layers
# ---------------------------------------------------------------------------


def _products_by_ones(layer: nn.Module, *inputs: torch.Tensor) -> int:
    """Count the products a layer forms by running it on ones with unit weights and no bias.

    Every product is then 1 and lands in the output (no cropping), so the output sum is their number.
    """
    with torch.no_grad():
        for p in layer.parameters():
            p.fill_(1.0)
        return int(layer(*inputs).double().sum().item())


@pytest.mark.parametrize(
    "c_in, c_out, k, stride, groups", [(4, 6, 3, 2, 1), (6, 4, (2, 3), 3, 2), (4, 8, 4, 1, 4)]
)
def test_conv_transpose_macs_scatter_each_input_through_the_kernel(c_in, c_out, k, stride, groups):
    h, w = 5, 7
    kh, kw = (k, k) if isinstance(k, int) else k
    layer = nn.ConvTranspose2d(c_in, c_out, k, stride=stride, groups=groups, bias=False).double()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = layer

        def forward(self, x):
            return self.up(x)

    # each of the H_in W_in C_in input elements meets (C_out/g) k_h k_w weights
    closed_form = h * w * c_in * (c_out // groups) * kh * kw
    x = torch.ones(3, c_in, h, w, dtype=torch.float64)
    assert count_macs(Net(), input=x) == closed_form
    assert count_macs(Net(), input_size=(c_in, h, w)) == closed_form
    # first principles: padding 0 crops nothing, so every scattered product lands in the output
    assert _products_by_ones(layer, x[:1]) == closed_form
    # not the output-gathering count of an ordinary convolution (which would differ here)
    out_hw = layer(x).shape[-2:]
    assert closed_form != out_hw[0] * out_hw[1] * c_out * (c_in // groups) * kh * kw
    [row] = layer_table(Net(), input=x)
    assert row.kind == "ConvTranspose2d" and row.macs == closed_form


@pytest.mark.parametrize("in1, in2, out", [(3, 5, 4), (7, 2, 1)])
def test_bilinear_macs_are_in1_in2_out_per_example(in1, in2, out):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.bil = nn.Bilinear(in1, in2, out, bias=False).double()

        def forward(self, x):  # x: (B, in1 + in2)
            return self.bil(x[:, :in1], x[:, in1:])

    net = Net()
    closed_form = in1 * in2 * out  # y_o = sum_ij x1_i W_oij x2_j
    x = torch.ones(4, in1 + in2, dtype=torch.float64)
    assert count_macs(net, input=x) == closed_form
    assert count_macs(net, input_size=(in1 + in2,)) == closed_form
    ones1, ones2 = torch.ones(1, in1, dtype=torch.float64), torch.ones(1, in2, dtype=torch.float64)
    assert _products_by_ones(net.bil, ones1, ones2) == closed_form
    [row] = layer_table(net, input=x)
    assert row.kind == "Bilinear" and row.macs == closed_form
