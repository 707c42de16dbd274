"""Throughput of adlab's in-memory ArrayLoader against torch.utils.data.DataLoader.

Both iterate over the same tensors with the same batch size and shuffling; the ratio
(ArrayLoader batches/s over DataLoader batches/s) is measured in one run, so it does not
depend on how fast the machine is.

    python benchmarks/loader_speed.py --n 60000 --batch 128 --repeats 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from adlab.core.trainer import ArrayLoader


def _time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60000, help="rows (Fashion-MNIST-sized by default)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    x = torch.randn(args.n, 1, 28, 28)
    y = torch.randint(0, 10, (args.n,))
    ours = ArrayLoader((x, y), args.batch, shuffle=True, seed=0)
    g = torch.Generator().manual_seed(0)
    theirs = DataLoader(TensorDataset(x, y), batch_size=args.batch, shuffle=True, generator=g)

    t_ours = _time(lambda: sum(1 for _ in ours.batches(0)), args.repeats)
    t_theirs = _time(lambda: sum(1 for _ in theirs), args.repeats)
    n_batches = len(ours)
    result = {
        "rows": args.n,
        "batch": args.batch,
        "array_loader_batches_per_s": n_batches / t_ours,
        "torch_dataloader_batches_per_s": n_batches / t_theirs,
        "speedup": t_theirs / t_ours,
        "device": "cpu",
        "threads": torch.get_num_threads(),
    }
    print(f"{'loader':<28}{'batches/s':>12}")
    print(f"{'adlab ArrayLoader':<28}{result['array_loader_batches_per_s']:>12.0f}")
    print(f"{'torch DataLoader':<28}{result['torch_dataloader_batches_per_s']:>12.0f}")
    print(f"speed-up (same run): {result['speedup']:.1f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
