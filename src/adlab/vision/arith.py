r"""Convolution arithmetic: output sizes, receptive fields, parameters and MACs.

Output size (lecture L675, L679). A convolution with kernel $k$, dilation $d$
(effective kernel $k_e = d(k-1)+1$), stride $s$ and padding $p_{lo}, p_{hi}$ on
an input of side $n$ has

    $n_{out} = \lfloor (n + p_{lo} + p_{hi} - k_e) / s \rfloor + 1$

The three named paddings:

- valid: $p = 0$, so $n_{out} = n - k_e + 1$ at stride 1 (9x9 and 3x3 give 7x7);
- same:  total padding $k_e - 1$ (asymmetric when $k_e$ is even), so
  $n_{out} = \lceil n / s \rceil$ (9x9 stays 9x9 at stride 1);
- full:  $p = k_e - 1$ on each side, so $n_{out} = n + k_e - 1$ at stride 1.

Receptive field of a stack of layers (Dumoulin & Visin; Araujo et al., 2019).
With $r$ the receptive field, $j$ the jump (input pixels between neighbouring
output units) and $c$ the centre of the first output unit's field in input
pixel coordinates (pixel $i$ has centre $i$), starting from $r_0 = j_0 = 1$,
$c_0 = 0$:

    $r_l = r_{l-1} + (k_e - 1)\, j_{l-1}$
    $j_l = j_{l-1}\, s$
    $c_l = c_{l-1} + ((k_e - 1)/2 - p_{lo})\, j_{l-1}$

Output unit $i$ of layer $l$ sees input pixels $c_l + i j_l \pm (r_l - 1)/2$.
Two stacked 3x3 convolutions see 5x5, like one 5x5 convolution, with
$2 \cdot 9 C^2 = 18 C^2$ weights instead of $25 C^2$ (28% fewer).

Parameters and multiply-accumulates (MACs, per example). A convolution with
$C_{in}$ inputs, $C_{out}$ outputs, $g$ groups and a $k_h \times k_w$ kernel has
$C_{out} (C_{in}/g) k_h k_w$ weights (+ $C_{out}$ biases) and costs
$H_{out} W_{out} C_{out} (C_{in}/g) k_h k_w$ MACs; a linear layer has
$n_{in} n_{out}$ weights (+ $n_{out}$) and costs $n_{in} n_{out}$ MACs.
One MAC is two FLOPs; papers that say "FLOPs" for ResNets (3.6G for
ResNet-34, 11.3G for ResNet-152, 19.6G for VGG-19) count multiply-adds.
:func:`layer_table` and :func:`count_macs` walk a torch model with forward hooks
and count only convolutions and linear layers (batch norm, activations,
pooling and additions are a few percent and are left out, as in the papers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn

__all__ = [
    "effective_kernel_size",
    "padding_amount",
    "conv_output_size",
    "conv_output_shape",
    "valid_output_size",
    "same_output_size",
    "full_output_size",
    "pool_output_size",
    "Layer",
    "RFInfo",
    "receptive_field",
    "layers_from_module",
    "conv2d_params",
    "conv2d_macs",
    "linear_params",
    "linear_macs",
    "separable_conv2d_params",
    "fully_connected_params",
    "locally_connected_params",
    "count_parameters",
    "LayerStats",
    "layer_table",
    "count_macs",
    "format_table",
]

PaddingSpec = int | tuple[int, int] | str


# ---------------------------------------------------------------------------
# Output size
# ---------------------------------------------------------------------------


def effective_kernel_size(kernel: int, dilation: int = 1) -> int:
    """$k_e = d (k - 1) + 1$: the span of a dilated kernel."""
    if kernel < 1 or dilation < 1:
        raise ValueError(f"kernel and dilation must be >= 1, got {kernel}, {dilation}")
    return dilation * (kernel - 1) + 1


def padding_amount(padding: PaddingSpec, kernel: int, dilation: int = 1) -> tuple[int, int]:
    """Padding ``(before, after)`` for an int, a pair, or ``"valid"|"same"|"full"``.

    ``"same"`` pads $k_e - 1$ in total, the extra pixel (even $k_e$) going after,
    as ``torch.nn.Conv2d(padding="same")`` and TensorFlow do.
    """
    k_e = effective_kernel_size(kernel, dilation)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            total = k_e - 1
            return total // 2, total - total // 2
        if mode == "full":
            return k_e - 1, k_e - 1
        raise ValueError(f"padding must be an int, a pair or 'valid'/'same'/'full', got {padding!r}")
    if isinstance(padding, int):
        lo = hi = padding
    else:
        lo, hi = padding
    if lo < 0 or hi < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return int(lo), int(hi)


def conv_output_size(
    n: int,
    kernel: int,
    stride: int = 1,
    padding: PaddingSpec = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    r"""Side of the output of a convolution or pooling on an input of side ``n``.

    $n_{out} = \lfloor (n + p_{lo} + p_{hi} - k_e)/s \rfloor + 1$ (``ceil_mode``
    rounds up, dropping a last window that would start in the right padding, as
    torch's pooling layers do). Raises ``ValueError`` when the kernel does not fit.
    """
    if n < 1 or stride < 1:
        raise ValueError(f"input size and stride must be >= 1, got {n}, {stride}")
    lo, hi = padding_amount(padding, kernel, dilation)
    span = n + lo + hi - effective_kernel_size(kernel, dilation)
    if span < 0:
        raise ValueError(
            f"kernel {kernel} (dilation {dilation}) does not fit an input of {n} with padding {(lo, hi)}"
        )
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    # torch: the last pooling window must start inside the input or the left padding
    if (out - 1) * stride >= n + lo:
        out -= 1
    return out


def conv_output_shape(
    hw: int | Sequence[int],
    kernel: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec | Sequence[PaddingSpec] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
) -> tuple[int, int]:
    """``(H_out, W_out)``: :func:`conv_output_size` per axis; scalars apply to both axes."""

    def pair(v):
        if isinstance(v, (int, str)):
            return v, v
        return tuple(v)

    hs, ks, ss, ds = pair(hw), pair(kernel), pair(stride), pair(dilation)
    if isinstance(padding, (int, str)):
        ps = (padding, padding)
    else:
        ps = tuple(padding)
    return tuple(  # type: ignore[return-value]
        conv_output_size(hs[i], ks[i], ss[i], ps[i], ds[i], ceil_mode) for i in range(2)
    )


def valid_output_size(n: int, kernel: int, stride: int = 1, dilation: int = 1) -> int:
    """Valid convolution: the kernel lies wholly inside the input ($n - k_e + 1$ at stride 1)."""
    return conv_output_size(n, kernel, stride, "valid", dilation)


def same_output_size(n: int, kernel: int, stride: int = 1, dilation: int = 1) -> int:
    r"""Same convolution: $\lceil n / s \rceil$ (the input size at stride 1)."""
    return conv_output_size(n, kernel, stride, "same", dilation)


def full_output_size(n: int, kernel: int, stride: int = 1, dilation: int = 1) -> int:
    """Full convolution: every overlap of at least one pixel ($n + k_e - 1$ at stride 1)."""
    return conv_output_size(n, kernel, stride, "full", dilation)


def pool_output_size(
    n: int,
    kernel: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Pooling output size; ``stride`` defaults to ``kernel`` as in torch."""
    return conv_output_size(n, kernel, stride or kernel, padding, dilation, ceil_mode)


# ---------------------------------------------------------------------------
# Receptive field
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One spatial layer of a stack (one axis): kernel, stride, padding, dilation."""

    kernel: int
    stride: int = 1
    padding: PaddingSpec = 0
    dilation: int = 1
    name: str = ""


@dataclass(frozen=True)
class RFInfo:
    """Receptive field after one layer.

    Attributes:
        name: the layer's name.
        size: receptive field $r$ in input pixels.
        jump: $j$, input pixels between neighbouring output units.
        start: $c$, centre of output unit 0's field in input pixel coordinates
            (may be negative: the field reaches into the padding).
        output_size: the layer's output side, when an input size was given.
    """

    name: str
    size: int
    jump: int
    start: float
    output_size: int | None = None


def _as_layer(spec) -> Layer:
    if isinstance(spec, Layer):
        return spec
    if isinstance(spec, nn.Module):
        return _layer_from_module(spec, "")
    if isinstance(spec, dict):
        return Layer(**spec)
    if isinstance(spec, int):
        return Layer(spec)
    return Layer(*spec)


def _first(v):
    return v[0] if isinstance(v, (tuple, list)) else v


def _layer_from_module(m: nn.Module, name: str) -> Layer:
    if isinstance(m, nn.modules.conv._ConvNd) and not m.transposed:
        pad = m.padding if isinstance(m.padding, str) else _first(m.padding)
        return Layer(_first(m.kernel_size), _first(m.stride), pad, _first(m.dilation), name)
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        return Layer(_first(m.kernel_size), _first(m.stride), _first(m.padding), _first(m.dilation), name)
    if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        return Layer(_first(m.kernel_size), _first(m.stride), _first(m.padding), 1, name)
    raise TypeError(f"{type(m).__name__} has no fixed kernel; cannot compute its receptive field")


def layers_from_module(module: nn.Module) -> list[Layer]:
    """The convolution and pooling layers of ``module`` in registration order.

    Element-wise layers (activations, batch norm, dropout) do not change the
    receptive field and are skipped. Only meaningful for a chain of layers
    (an ``nn.Sequential``), not for branching models.
    """
    kinds = (
        nn.modules.conv._ConvNd,
        nn.MaxPool1d,
        nn.MaxPool2d,
        nn.MaxPool3d,
        nn.AvgPool1d,
        nn.AvgPool2d,
        nn.AvgPool3d,
    )
    return [
        _layer_from_module(m, name)
        for name, m in module.named_modules()
        if isinstance(m, kinds) and not getattr(m, "transposed", False)
    ]


def receptive_field(layers: Iterable | nn.Module, input_size: int | None = None) -> list[RFInfo]:
    """Receptive field, jump and start after each layer of a stack.

    ``layers`` holds :class:`Layer` objects, tuples ``(kernel, stride, padding,
    dilation)``, dicts, ints (a kernel) or conv/pool modules; an ``nn.Module``
    is read with :func:`layers_from_module`. With ``input_size`` each row also
    holds the layer's output size.
    """
    if isinstance(layers, nn.Module):
        layers = layers_from_module(layers)
    r, j, c = 1, 1, 0.0  # $r_0 = j_0 = 1$, $c_0 = 0$
    n = input_size
    rows = []
    for i, spec in enumerate(layers):
        L = _as_layer(spec)
        k_e = effective_kernel_size(L.kernel, L.dilation)
        lo, _ = padding_amount(L.padding, L.kernel, L.dilation)
        c = c + ((k_e - 1) / 2 - lo) * j  # $c_l = c_{l-1} + ((k_e-1)/2 - p_{lo}) j_{l-1}$
        r = r + (k_e - 1) * j  # $r_l = r_{l-1} + (k_e - 1) j_{l-1}$
        j = j * L.stride  # $j_l = j_{l-1} s$
        if n is not None:
            n = conv_output_size(n, L.kernel, L.stride, L.padding, L.dilation)
        rows.append(RFInfo(L.name or f"layer{i}", r, j, c, n))
    return rows


# ---------------------------------------------------------------------------
# Parameters and MACs by formula
# ---------------------------------------------------------------------------


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv2d_params(c_in: int, c_out: int, kernel: int | Sequence[int], groups: int = 1, bias: bool = True) -> int:
    """$C_{out} (C_{in}/g) k_h k_w$ weights, plus $C_{out}$ biases."""
    if c_in % groups or c_out % groups:
        raise ValueError(f"channels {c_in}->{c_out} not divisible by groups={groups}")
    kh, kw = _pair(kernel)
    return c_out * (c_in // groups) * kh * kw + (c_out if bias else 0)


def conv2d_macs(
    c_in: int, c_out: int, kernel: int | Sequence[int], out_hw: int | Sequence[int], groups: int = 1
) -> int:
    """$H_{out} W_{out} C_{out} (C_{in}/g) k_h k_w$ multiply-accumulates per example."""
    kh, kw = _pair(kernel)
    ho, wo = _pair(out_hw)
    return ho * wo * c_out * (c_in // groups) * kh * kw


def linear_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """$n_{in} n_{out}$ weights, plus $n_{out}$ biases."""
    return n_in * n_out + (n_out if bias else 0)


def linear_macs(n_in: int, n_out: int) -> int:
    """$n_{in} n_{out}$ multiply-accumulates per example."""
    return n_in * n_out


def separable_conv2d_params(c_in: int, c_out: int, kernel: int | Sequence[int], bias: bool = True) -> int:
    """Depth-wise $k \\times k$ convolution ($g = C_{in}$) followed by a 1x1 convolution."""
    return conv2d_params(c_in, c_in, kernel, groups=c_in, bias=bias) + conv2d_params(c_in, c_out, 1, bias=bias)


def fully_connected_params(in_shape: Sequence[int], out_shape: Sequence[int], bias: bool = True) -> int:
    """A dense layer from a ``(C, H, W)`` map to a ``(C', H', W')`` map."""
    n_in, n_out = math.prod(in_shape), math.prod(out_shape)
    return linear_params(n_in, n_out, bias)


def locally_connected_params(
    c_in: int, c_out: int, kernel: int | Sequence[int], out_hw: int | Sequence[int], bias: bool = True
) -> int:
    """A locally connected layer: a convolution's connections without weight sharing.

    Every output position has its own $C_{out} C_{in} k_h k_w$ weights (and biases).
    """
    ho, wo = _pair(out_hw)
    return ho * wo * conv2d_params(c_in, c_out, kernel, bias=bias)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``model`` (shared tensors counted once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


# ---------------------------------------------------------------------------
# Parameters and MACs by walking a model with forward hooks
# ---------------------------------------------------------------------------


@dataclass
class LayerStats:
    """One row of :func:`layer_table` (one call of one module)."""

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int
    extra: dict = field(default_factory=dict)


def _module_macs(m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    batch = out.shape[0] if out.dim() > 0 else 1
    if isinstance(m, nn.modules.conv._ConvNd):
        k = math.prod(m.kernel_size)
        if m.transposed:
            # every input element is scattered to C_out/g outputs through k taps
            return inp.numel() // batch * (m.out_channels // m.groups) * k
        # every output element gathers C_in/g inputs through k taps
        return out.numel() // batch * (m.in_channels // m.groups) * k
    if isinstance(m, nn.Linear):
        return out.numel() // batch * m.in_features
    if isinstance(m, nn.Bilinear):
        return out.numel() // batch * m.in1_features * m.in2_features
    return 0


def _make_input(model: nn.Module, input_size, batch_size: int) -> torch.Tensor:
    p = next(model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
    return torch.zeros((batch_size, *input_size), device=device, dtype=dtype)


def layer_table(
    model: nn.Module,
    input: torch.Tensor | None = None,
    input_size: Sequence[int] | None = None,
    all_leaves: bool = False,
) -> list[LayerStats]:
    """Per-layer parameters and MACs (per example) from one forward pass.

    Give an example batch ``input`` or ``input_size = (C, H, W)`` (a zero batch
    of one is made). Rows are convolutions and linear layers in call order;
    ``all_leaves=True`` adds every other leaf module (batch norm, activations,
    pooling) with its parameters and 0 MACs. The model runs in eval mode under
    ``torch.no_grad`` and its training flag is restored afterwards. Runs on the
    ``meta`` device too (shapes only, no arithmetic).
    """
    if input is None:
        if input_size is None:
            raise ValueError("give an example input or an input_size (C, H, W)")
        input = _make_input(model, input_size, 1)
    counted = (nn.modules.conv._ConvNd, nn.Linear, nn.Bilinear)
    rows: list[LayerStats] = []

    def hook(name):
        def fn(m, args, out):
            x = args[0] if args else None
            if isinstance(out, (tuple, list)):
                out = out[0]
            rows.append(
                LayerStats(
                    name=name,
                    kind=type(m).__name__,
                    input_shape=tuple(x.shape) if isinstance(x, torch.Tensor) else (),
                    output_shape=tuple(out.shape) if isinstance(out, torch.Tensor) else (),
                    params=sum(p.numel() for p in m.parameters(recurse=False)),
                    macs=_module_macs(m, x, out) if isinstance(m, counted) else 0,
                )
            )

        return fn

    handles = []
    for name, m in model.named_modules():
        is_leaf = next(m.children(), None) is None
        if isinstance(m, counted) or (all_leaves and is_leaf):
            handles.append(m.register_forward_hook(hook(name or type(m).__name__)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(input)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return rows


def count_macs(
    model: nn.Module, input: torch.Tensor | None = None, input_size: Sequence[int] | None = None
) -> int:
    """Total multiply-accumulates per example of convolutions and linear layers."""
    return sum(r.macs for r in layer_table(model, input=input, input_size=input_size))


def format_table(rows: Sequence[LayerStats]) -> str:
    """A plain-text table of :func:`layer_table` rows with a total line."""
    head = f"{'layer':<40} {'type':<18} {'output':<22} {'params':>12} {'MACs':>15}"
    lines = [head, "-" * len(head)]
    for r in rows:
        shape = "x".join(str(s) for s in r.output_shape[1:])
        lines.append(f"{r.name[:40]:<40} {r.kind[:18]:<18} {shape:<22} {r.params:>12,} {r.macs:>15,}")
    lines.append("-" * len(head))
    total_p = sum(r.params for r in rows)
    total_m = sum(r.macs for r in rows)
    lines.append(f"{'total':<40} {'':<18} {'':<22} {total_p:>12,} {total_m:>15,}")
    return "\n".join(lines)
