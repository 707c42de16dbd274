"""Trains a small net for a few steps with the shared Trainer; run directly (1 process) or under
``torchrun --nproc_per_node N``. Rank 0 saves the final parameters to argv[1] (safetensors)."""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from adlab.core import distributed
from adlab.core.context import RunContext
from adlab.core.trainer import ArrayLoader, Classification, Trainer


def main(out: str) -> None:
    torch.set_num_threads(1)
    device = torch.device("cpu")
    distributed.init(device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 10, generator=g, dtype=torch.float64)
    y = (x[:, :3].sum(1) > 0).long()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2)).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ctx = RunContext(out=Path(out).parent / "run", experiment="ddp", preset="smoke", seed=0, device=device)
    if ctx.is_main:
        ctx.out.mkdir(parents=True, exist_ok=True)
    distributed.barrier()
    trainer = Trainer("net", model, opt, Classification(), ArrayLoader((x, y), 32, seed=1), 2, ctx,
                      evals={"train": ArrayLoader((x, y), 64, shuffle=False)})
    hist = trainer.fit()
    if distributed.is_main():
        tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
        tensors["eval_accuracy"] = torch.tensor([hist[-1]["train"]["accuracy"]], dtype=torch.float64)
        save_file(tensors, out)
    del trainer, model  # drop the DDP wrapper (and its gloo work) before the group goes
    distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
