r"""Recurrent cells written from the equations, a multi-layer unroller, and weight mapping to torch.

Vanilla RNN (lecture 6)

    $h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b_h)$

LSTM, separate-matrix form (lecture 6, source L1319-1327; the candidate is called $\tilde c_t$)

    $i_t = \sigma(W_{xi} x_t + W_{hi} h_{t-1} + b_i)$
    $f_t = \sigma(W_{xf} x_t + W_{hf} h_{t-1} + b_f)$
    $o_t = \sigma(W_{xo} x_t + W_{ho} h_{t-1} + b_o)$
    $\tilde c_t = \tanh(W_{xc} x_t + W_{hc} h_{t-1} + b_c)$
    $c_t = f_t \odot c_{t-1} + i_t \odot \tilde c_t$
    $h_t = o_t \odot \tanh(c_t)$

The same cell in the concatenated form of source L1507-1525 is
$[i; f; \tilde c; o] = [\sigma; \sigma; \tanh; \sigma](W [h_{t-1}; x_t] + b)$ with
$W = [W_h\; W_x]$ the four gates' matrices stacked: see :meth:`LSTMCell.concatenated`.

GRU, two variants (``variant=``):

- ``"cho"`` (the lecture's form, source L1555-1561): the reset gate multiplies $h_{t-1}$
  *before* the matrix product, and $z_t$ weights the candidate:

      $z_t = \sigma(W_{xz} x_t + W_{hz} h_{t-1} + b_z)$
      $r_t = \sigma(W_{xr} x_t + W_{hr} h_{t-1} + b_r)$
      $\tilde h_t = \tanh(W_{xh} x_t + W_{hh} (r_t \odot h_{t-1}) + b_h)$
      $h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t$

  (Cho et al. 2014 put the reset before the product as here; their paper writes the update
  the other way round, $h_t = z_t h_{t-1} + (1-z_t)\tilde h_t$. That is only a relabelling
  $z \leftrightarrow 1-z$, i.e. the sign of the update gate's weights; we follow the lecture.)

- ``"torch"`` (``torch.nn.GRU``): the reset gate multiplies the *result* of the product,
  which has its own bias $b_{hh}$, and $z$ weights the old state:

      $\tilde h_t = \tanh(W_{xh} x_t + b_h + r_t \odot (W_{hh} h_{t-1} + b_{hh}))$
      $h_t = (1 - z_t) \odot \tilde h_t + z_t \odot h_{t-1}$

The two variants are different functions of the same weights (tested).

:class:`RNN` unrolls a stack of cells over time (``fast=False``), or runs ``torch.nn.LSTM`` /
``GRU`` / ``RNN`` (``fast=True``; cuDNN on a GPU). :func:`copy_weights` maps the weights
between the two (torch's gate orders are i, f, g, o for the LSTM and r, z, n for the GRU,
and torch keeps two biases per gate where the equations have one).
"""

from __future__ import annotations

import math
from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LSTMState = tuple[Tensor, Tensor]
State = Union[Tensor, LSTMState]

_GRU_VARIANTS = ("cho", "torch")


def _uniform_(params: list[nn.Parameter], hidden_size: int) -> None:
    """torch's default recurrent initialisation: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        for p in params:
            p.uniform_(-bound, bound)


class RNNCell(nn.Module):
    r"""Vanilla recurrent cell: $h_t = f(W_{xh} x_t + W_{hh} h_{t-1} + b_h)$, $f$ = tanh (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> None:
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        self.W_xh = nn.Parameter(torch.empty(hidden_size, input_size))
        self.W_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.b_h = nn.Parameter(torch.empty(hidden_size))
        _uniform_(list(self.parameters()), hidden_size)

    def initial_state(self, batch_size: int, like: Tensor) -> Tensor:
        return like.new_zeros(batch_size, self.hidden_size)

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        """One step. x: (B, I), h: (B, H) or None (zeros) -> h_t: (B, H)."""
        if h is None:
            h = self.initial_state(x.shape[0], x)
        # $W_{xh} x_t + W_{hh} h_{t-1} + b_h$  (B, H)
        a = x @ self.W_xh.T + h @ self.W_hh.T + self.b_h
        return torch.tanh(a) if self.nonlinearity == "tanh" else torch.relu(a)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}"


class LSTMCell(nn.Module):
    """LSTM cell in the lecture's separate-matrix form (one W_x*, W_h*, b_* per gate)."""

    GATES = ("i", "f", "c", "o")  # torch's order is the same: i, f, g (= our candidate c), o

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        for g in self.GATES:
            setattr(self, f"W_x{g}", nn.Parameter(torch.empty(hidden_size, input_size)))
            setattr(self, f"W_h{g}", nn.Parameter(torch.empty(hidden_size, hidden_size)))
            setattr(self, f"b_{g}", nn.Parameter(torch.empty(hidden_size)))
        _uniform_(list(self.parameters()), hidden_size)

    def initial_state(self, batch_size: int, like: Tensor) -> LSTMState:
        z = like.new_zeros(batch_size, self.hidden_size)
        return z, z.clone()

    def _pre(self, g: str, x: Tensor, h: Tensor) -> Tensor:
        # $W_{xg} x_t + W_{hg} h_{t-1} + b_g$  (B, H)
        return x @ getattr(self, f"W_x{g}").T + h @ getattr(self, f"W_h{g}").T + getattr(self, f"b_{g}")

    def forward(self, x: Tensor, state: LSTMState | None = None) -> LSTMState:
        """One step. x: (B, I), state (h, c) each (B, H) or None -> (h_t, c_t)."""
        h, c = self.initial_state(x.shape[0], x) if state is None else state
        i_t = torch.sigmoid(self._pre("i", x, h))
        f_t = torch.sigmoid(self._pre("f", x, h))
        o_t = torch.sigmoid(self._pre("o", x, h))
        c_tilde = torch.tanh(self._pre("c", x, h))
        # $c_t = f_t \odot c_{t-1} + i_t \odot \tilde c_t$
        c_t = f_t * c + i_t * c_tilde
        # $h_t = o_t \odot \tanh(c_t)$
        h_t = o_t * torch.tanh(c_t)
        return h_t, c_t

    def concatenated(self) -> tuple[Tensor, Tensor]:
        r"""The concatenated form's parameters: W (4H, H + I) acting on $[h_{t-1}; x_t]$, b (4H,).

        Rows are the gates in the order i, f, c (candidate), o; columns are $[W_h\; W_x]$,
        the lecture's $W \cdot [h_{t-1}, x_t]$ (source L1507-1525).
        """
        W = torch.cat([torch.cat([getattr(self, f"W_h{g}"), getattr(self, f"W_x{g}")], dim=1) for g in self.GATES])
        b = torch.cat([getattr(self, f"b_{g}") for g in self.GATES])
        return W, b

    def forward_concatenated(self, x: Tensor, state: LSTMState | None = None) -> LSTMState:
        r"""The same step computed as one product $W [h_{t-1}; x_t] + b$, then split into the gates."""
        h, c = self.initial_state(x.shape[0], x) if state is None else state
        W, b = self.concatenated()
        a = torch.cat([h, x], dim=1) @ W.T + b  # (B, 4H)
        a_i, a_f, a_c, a_o = a.chunk(4, dim=1)
        c_t = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_c)
        h_t = torch.sigmoid(a_o) * torch.tanh(c_t)
        return h_t, c_t

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class GRUCell(nn.Module):
    """GRU cell; ``variant="cho"`` is the lecture's form, ``variant="torch"`` equals torch.nn.GRU.

    See the module docstring for both sets of equations. Only the torch variant has the extra
    bias ``b_hh`` (added to $W_{hh} h_{t-1}$ inside the reset product).
    """

    def __init__(self, input_size: int, hidden_size: int, variant: str = "cho") -> None:
        super().__init__()
        if variant not in _GRU_VARIANTS:
            raise ValueError(f"GRU variant must be one of {_GRU_VARIANTS}, got {variant!r}")
        self.input_size, self.hidden_size, self.variant = input_size, hidden_size, variant
        for g in ("z", "r", "h"):
            setattr(self, f"W_x{g}", nn.Parameter(torch.empty(hidden_size, input_size)))
            setattr(self, f"W_h{g}", nn.Parameter(torch.empty(hidden_size, hidden_size)))
            setattr(self, f"b_{g}", nn.Parameter(torch.empty(hidden_size)))
        if variant == "torch":
            self.b_hh = nn.Parameter(torch.empty(hidden_size))
        _uniform_(list(self.parameters()), hidden_size)

    def initial_state(self, batch_size: int, like: Tensor) -> Tensor:
        return like.new_zeros(batch_size, self.hidden_size)

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        """One step. x: (B, I), h: (B, H) or None -> h_t: (B, H)."""
        if h is None:
            h = self.initial_state(x.shape[0], x)
        # $z_t = \sigma(W_{xz} x_t + W_{hz} h_{t-1} + b_z)$, $r_t$ likewise
        z_t = torch.sigmoid(x @ self.W_xz.T + h @ self.W_hz.T + self.b_z)
        r_t = torch.sigmoid(x @ self.W_xr.T + h @ self.W_hr.T + self.b_r)
        if self.variant == "cho":
            # $\tilde h_t = \tanh(W_{xh} x_t + W_{hh}(r_t \odot h_{t-1}) + b_h)$
            h_tilde = torch.tanh(x @ self.W_xh.T + (r_t * h) @ self.W_hh.T + self.b_h)
            # $h_t = (1 - z_t) h_{t-1} + z_t \tilde h_t$
            return (1 - z_t) * h + z_t * h_tilde
        # $\tilde h_t = \tanh(W_{xh} x_t + b_h + r_t \odot (W_{hh} h_{t-1} + b_{hh}))$
        h_tilde = torch.tanh(x @ self.W_xh.T + self.b_h + r_t * (h @ self.W_hh.T + self.b_hh))
        # $h_t = (1 - z_t) \tilde h_t + z_t h_{t-1}$
        return (1 - z_t) * h_tilde + z_t * h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, variant={self.variant!r}"


Cell = Union[RNNCell, LSTMCell, GRUCell]
_TORCH_CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RNN(nn.Module):
    """A stack of ``num_layers`` recurrent cells unrolled over time.

    ``cell_type`` is ``"rnn"``, ``"lstm"`` or ``"gru"``. ``forward(x, state=None, lengths=None)``
    takes x (B, T, I) (or (T, B, I) with ``batch_first=False``) and returns the top layer's
    outputs (B, T, H) and the final state in torch's layout: ``h_n`` (L, B, H), or
    ``(h_n, c_n)`` for the LSTM. ``lengths`` (B,) marks padded batches: a sequence's state stops
    changing after its last step and its outputs past the end are zero.

    ``fast=False`` loops over our cells in Python (the method, readable, differentiable with
    respect to everything). ``fast=True`` holds a ``torch.nn.LSTM``/``GRU``/``RNN`` instead
    (cuDNN on a GPU); it computes the same function, so :func:`copy_weights` moves a trained
    model between the two. The Cho GRU has no torch equivalent: ``fast=True`` with
    ``cell_type="gru"`` needs ``gru_variant="torch"``.
    """

    def __init__(
        self,
        cell_type: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        batch_first: bool = True,
        fast: bool = False,
        dropout: float = 0.0,
        gru_variant: str = "cho",
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__()
        if cell_type not in _TORCH_CLASSES:
            raise ValueError(f"cell_type must be one of {tuple(_TORCH_CLASSES)}, got {cell_type!r}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if gru_variant not in _GRU_VARIANTS:
            raise ValueError(f"gru_variant must be one of {_GRU_VARIANTS}, got {gru_variant!r}")
        if fast and cell_type == "gru" and gru_variant != "torch":
            raise ValueError(
                "fast=True runs torch.nn.GRU, which applies the reset gate after the matrix product and "
                "swaps z and 1-z: it is not the Cho/lecture GRU. Use fast=False for gru_variant='cho', "
                "or gru_variant='torch' to train the torch variant fast."
            )
        self.cell_type, self.input_size, self.hidden_size = cell_type, input_size, hidden_size
        self.num_layers, self.batch_first, self.fast, self.dropout = num_layers, batch_first, fast, dropout
        self.gru_variant = gru_variant if cell_type == "gru" else None
        if fast:
            kwargs = {"nonlinearity": nonlinearity} if cell_type == "rnn" else {}
            self.torch_rnn = _TORCH_CLASSES[cell_type](
                input_size, hidden_size, num_layers, batch_first=batch_first, dropout=dropout, **kwargs
            )
        else:
            self.cells = nn.ModuleList(
                [self._make_cell(input_size if l == 0 else hidden_size, nonlinearity) for l in range(num_layers)]
            )

    def _make_cell(self, input_size: int, nonlinearity: str) -> Cell:
        if self.cell_type == "lstm":
            return LSTMCell(input_size, self.hidden_size)
        if self.cell_type == "gru":
            return GRUCell(input_size, self.hidden_size, variant=self.gru_variant)
        return RNNCell(input_size, self.hidden_size, nonlinearity)

    def forward(self, x: Tensor, state: State | None = None, lengths: Tensor | None = None) -> tuple[Tensor, State]:
        if self.fast:
            return self._forward_fast(x, state, lengths)
        if not self.batch_first:
            x = x.transpose(0, 1)
        B, T, _ = x.shape
        lstm = self.cell_type == "lstm"
        mask = None
        if lengths is not None:
            # (B, T, 1): 1 while t < length
            mask = (torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]).unsqueeze(-1)
        h_n, c_n = [], []
        layer_in = x  # (B, T, I)
        for l, cell in enumerate(self.cells):
            if state is None:
                s = cell.initial_state(B, x)
            else:
                s = (state[0][l], state[1][l]) if lstm else state[l]
            outs = []
            for t in range(T):
                s_new = cell(layer_in[:, t], s)
                if mask is not None:
                    m = mask[:, t]  # (B, 1)
                    s_new = (torch.where(m, s_new[0], s[0]), torch.where(m, s_new[1], s[1])) if lstm else torch.where(m, s_new, s)
                s = s_new
                h = s[0] if lstm else s  # (B, H)
                outs.append(h * m if mask is not None else h)
            layer_out = torch.stack(outs, dim=1)  # (B, T, H)
            if lstm:
                h_n.append(s[0])
                c_n.append(s[1])
            else:
                h_n.append(s)
            if self.dropout > 0 and l < self.num_layers - 1:
                layer_out = F.dropout(layer_out, self.dropout, self.training)
            layer_in = layer_out
        out = layer_in if self.batch_first else layer_in.transpose(0, 1)
        final = (torch.stack(h_n), torch.stack(c_n)) if lstm else torch.stack(h_n)
        return out, final

    def _forward_fast(self, x: Tensor, state: State | None, lengths: Tensor | None) -> tuple[Tensor, State]:
        if lengths is None:
            return self.torch_rnn(x, state)
        T = x.shape[1 if self.batch_first else 0]
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False)
        out, final = self.torch_rnn(packed, state)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=self.batch_first, total_length=T)
        return out, final

    def extra_repr(self) -> str:
        variant = f", gru_variant={self.gru_variant!r}" if self.gru_variant else ""
        return f"{self.cell_type!r}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, fast={self.fast}{variant}"


# ----------------------------------------------------------------------------------------------
# Weight mapping between our cells and torch's modules.

_TORCH_CELLS = {RNNCell: (nn.RNN, nn.RNNCell), LSTMCell: (nn.LSTM, nn.LSTMCell), GRUCell: (nn.GRU, nn.GRUCell)}


def _torch_param(module: nn.Module, name: str, layer: int) -> nn.Parameter:
    suffix = f"_l{layer}" if isinstance(module, nn.RNNBase) else ""
    return getattr(module, name + suffix)


def _check_pair(cell: Cell, module: nn.Module) -> None:
    if not isinstance(module, _TORCH_CELLS[type(cell)]):
        raise TypeError(f"cannot map {type(cell).__name__} to {type(module).__name__}")
    if isinstance(cell, GRUCell) and cell.variant != "torch":
        raise ValueError("only the 'torch' GRU variant computes the same function as torch.nn.GRU")
    if isinstance(module, nn.RNNBase) and (module.bidirectional or module.proj_size):
        raise ValueError("bidirectional or projected torch RNNs have no counterpart here")
    if isinstance(cell, RNNCell) and cell.nonlinearity != module.nonlinearity:
        raise ValueError(f"nonlinearity differs: {cell.nonlinearity!r} vs {module.nonlinearity!r}")


def _gate_names(cell: Cell) -> tuple[str, ...]:
    """Our gate names in torch's stacking order."""
    if isinstance(cell, LSTMCell):
        return ("i", "f", "c", "o")
    if isinstance(cell, GRUCell):
        return ("r", "z", "h")
    return ("h",)


@torch.no_grad()
def cell_to_torch(cell: Cell, module: nn.Module, layer: int = 0) -> None:
    """Copy ``cell``'s weights into layer ``layer`` of a torch RNN/LSTM/GRU (or into a torch *Cell).

    torch stacks the gates' matrices (LSTM: i, f, g, o; GRU: r, z, n) and has two biases per
    gate whose sum plays the role of our one bias: we put ours in ``bias_ih`` and zeros in
    ``bias_hh``, except the GRU candidate's hidden-side bias, which is our ``b_hh``.
    """
    _check_pair(cell, module)
    gates = _gate_names(cell)
    _torch_param(module, "weight_ih", layer).copy_(torch.cat([getattr(cell, f"W_x{g}") for g in gates]))
    _torch_param(module, "weight_hh", layer).copy_(torch.cat([getattr(cell, f"W_h{g}") for g in gates]))
    _torch_param(module, "bias_ih", layer).copy_(torch.cat([getattr(cell, f"b_{g}") for g in gates]))
    bias_hh = _torch_param(module, "bias_hh", layer)
    bias_hh.zero_()
    if isinstance(cell, GRUCell):
        bias_hh[2 * cell.hidden_size :].copy_(cell.b_hh)


@torch.no_grad()
def cell_from_torch(cell: Cell, module: nn.Module, layer: int = 0) -> None:
    """Copy layer ``layer`` of a torch RNN/LSTM/GRU (or a torch *Cell) into ``cell`` (inverse of :func:`cell_to_torch`)."""
    _check_pair(cell, module)
    gates = _gate_names(cell)
    W_ih = _torch_param(module, "weight_ih", layer).chunk(len(gates))
    W_hh = _torch_param(module, "weight_hh", layer).chunk(len(gates))
    b_ih = _torch_param(module, "bias_ih", layer).chunk(len(gates))
    b_hh = _torch_param(module, "bias_hh", layer).chunk(len(gates))
    for k, g in enumerate(gates):
        getattr(cell, f"W_x{g}").copy_(W_ih[k])
        getattr(cell, f"W_h{g}").copy_(W_hh[k])
        if isinstance(cell, GRUCell) and g == "h":
            # $\tilde h = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))$: b_hn stays inside
            cell.b_h.copy_(b_ih[k])
            cell.b_hh.copy_(b_hh[k])
        else:
            getattr(cell, f"b_{g}").copy_(b_ih[k] + b_hh[k])


def _resolve(m: nn.Module) -> nn.Module:
    return m.torch_rnn if isinstance(m, RNN) and m.fast else m


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy the weights of a recurrent stack into another that computes the same function.

    Each of ``src`` and ``dst`` is an :class:`RNN` (either ``fast`` setting) or a
    ``torch.nn.LSTM``/``GRU``/``RNN``; the cell type, sizes and number of layers must agree.
    """
    s, d = _resolve(src), _resolve(dst)
    s_ours, d_ours = isinstance(s, RNN), isinstance(d, RNN)
    s_type = s.cell_type if s_ours else type(s).__name__.lower()
    d_type = d.cell_type if d_ours else type(d).__name__.lower()
    for m in (s, d):
        if not isinstance(m, (RNN, nn.RNN, nn.LSTM, nn.GRU)):
            raise TypeError(f"copy_weights takes adlab RNN or torch.nn.RNN/LSTM/GRU modules, got {type(m).__name__}")
    if (s_type, s.input_size, s.hidden_size, s.num_layers) != (d_type, d.input_size, d.hidden_size, d.num_layers):
        raise ValueError(
            f"shapes differ: {s_type}({s.input_size}, {s.hidden_size}, layers={s.num_layers}) vs "
            f"{d_type}({d.input_size}, {d.hidden_size}, layers={d.num_layers})"
        )
    if s_ours == d_ours:
        d.load_state_dict(s.state_dict())
    elif s_ours:
        for l, cell in enumerate(s.cells):
            cell_to_torch(cell, d, l)
    else:
        for l, cell in enumerate(d.cells):
            cell_from_torch(cell, s, l)
