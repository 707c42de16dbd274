"""LSTM training throughput: adlab's equations path, adlab's fast path, and torch.nn.LSTM.

Each contender trains the same one-layer LSTM (random inputs, a linear read-out and a mean
squared error, Adam) on the same batches, in the same process, one after another; we report
training tokens per second (batch x sequence length per optimizer step) and the ratios to
torch.nn.LSTM, which do not depend on how fast the machine is.

- ``equations``: ``adlab.nn.recurrent.RNN("lstm", fast=False)``, the cell written from the
  lecture's equations and unrolled in Python;
- ``fast``: ``RNN("lstm", fast=True)``, which holds a torch.nn.LSTM (cuDNN on a GPU);
- ``torch``: a bare ``torch.nn.LSTM``.

    python benchmarks/rnn_speed.py --device cpu --seq-len 64 --batch 32 --hidden 128 --steps 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from adlab.core.context import synchronize
from adlab.nn.recurrent import RNN


class _Torch(nn.Module):
    def __init__(self, input_size: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, batch_first=True)

    def forward(self, x: torch.Tensor):
        return self.lstm(x)


def tokens_per_second(rnn: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int) -> dict:
    """Train ``rnn`` + ``head`` for ``warmup`` + ``steps`` steps; tokens/s over the timed steps (median step time)."""
    opt = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=1e-3)
    times = []
    for i in range(warmup + steps):
        synchronize(x.device)
        t = time.perf_counter()
        out, _ = rnn(x)
        loss = F.mse_loss(head(out), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        synchronize(x.device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    step = statistics.median(times)
    return {"median_step_s": step, "tokens_per_s": x.shape[0] * x.shape[1] / step}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--input", type=int, default=64, help="input features per step")
    ap.add_argument("--steps", type=int, default=20, help="timed training steps per contender")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", help="write the results to this path")
    args = ap.parse_args()
    for k in ("seq_len", "batch", "hidden", "input", "steps"):
        if getattr(args, k) < 1:
            ap.error(f"--{k.replace('_', '-')} must be >= 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA GPU is available")
    device = torch.device(args.device)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, args.seq_len, args.input, generator=g).to(device)
    y = torch.randn(args.batch, args.seq_len, 1, generator=g).to(device)
    contenders = {
        "equations": lambda: RNN("lstm", args.input, args.hidden, fast=False),
        "fast": lambda: RNN("lstm", args.input, args.hidden, fast=True),
        "torch": lambda: _Torch(args.input, args.hidden),
    }
    results = {}
    for name, make in contenders.items():
        torch.manual_seed(0)
        rnn, head = make().to(device), nn.Linear(args.hidden, 1).to(device)
        results[name] = tokens_per_second(rnn, head, x, y, args.steps, args.warmup)
    ref = results["torch"]["tokens_per_s"]
    for r in results.values():
        r["ratio_to_torch"] = r["tokens_per_s"] / ref

    name_w = max(map(len, results))
    print(f"LSTM training, device={device}, seq_len={args.seq_len}, batch={args.batch}, hidden={args.hidden}, input={args.input}, steps={args.steps}")
    print(f"{'path':<{name_w}}  {'tokens/s':>12}  {'step (ms)':>10}  {'vs torch':>8}")
    for name, r in results.items():
        print(f"{name:<{name_w}}  {r['tokens_per_s']:>12,.0f}  {1000 * r['median_step_s']:>10.2f}  {r['ratio_to_torch']:>8.2f}")
    if args.json:
        info = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                **{k: getattr(args, k) for k in ("seq_len", "batch", "hidden", "input", "steps", "warmup")}}
        if device.type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(device)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"settings": info, "results": results}, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
