"""Vision training speed: images/s per architecture at 28x28, and time to a test accuracy on Fashion-MNIST.

Part 1 (always): every model in ``--models`` takes the same random batches (forward, backward,
SGD step, channels-last), one after the other in this process; we report training images/s from
the median step and the ratio to the first model, which does not depend on how fast the machine is.

Part 2 (``--time-to 0.93``): the fastest recipe we know for each model in ``--recipe-models``
(``adlab.vision.recipe.fit``: Nesterov SGD, one-cycle to peak 0.1, label smoothing 0.1, flips,
``--epochs`` passes over all 60,000 training images, batch 64) is trained once; we report its
seconds (training with the per-epoch test evaluations), its test accuracy on all 10,000 test images after every
epoch, and the first epoch at which it reached the target. Needs the Fashion-MNIST files
(``adlab data fetch fashion-mnist``).

    python benchmarks/vision_speed.py --models lenet5 vgg_small resnet20 --json out.json
    python benchmarks/vision_speed.py --time-to 0.93 --recipe-models resnet20 --epochs 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from adlab.core.context import synchronize
from adlab.vision import create_model, list_models


def images_per_second(name: str, batch: int, steps: int, warmup: int, device: torch.device, amp: bool) -> dict:
    """Training images/s of ``name`` at 1x28x28 (median step over ``steps`` timed steps)."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1, image_size=28).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, 28, 28, generator=g).to(device).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    times = []
    for i in range(warmup + steps):
        synchronize(device)
        t = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    step = statistics.median(times)
    return {"images_per_s": batch / step, "median_step_s": step, "parameters": sum(p.numel() for p in model.parameters())}


def time_to_accuracy(name: str, target: float, epochs: int, device: torch.device, amp: bool) -> dict:
    """Train ``name`` with the quick leaderboard recipe for ``epochs``; seconds and per-epoch test accuracy."""
    from adlab.core.context import RunContext
    from adlab.data.fashion_mnist import tensors
    from adlab.vision.recipe import Recipe, fit

    x_tr, y_tr = tensors("train", None, 0)
    x_te, y_te = tensors("test", None, 1)
    recipe = Recipe(epochs=epochs, batch_size=64, lr=0.1, crop_padding=0, flip=True, amp=amp, channels_last=True)
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1, image_size=28)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(out=Path(tmp), experiment="vision-speed", preset="bench", seed=0, device=device)
        res = fit(name, model, recipe, (x_tr, y_tr), ctx, evals={"test": (x_te, y_te)})
    accs = [h["test"]["accuracy"] for h in res.history]
    reached = next((i + 1 for i, a in enumerate(accs) if a >= target), None)
    return {"model": name, "epochs": epochs, "seconds_total": res.seconds, "test_accuracy_by_epoch": accs,
            "final_accuracy": accs[-1], "target": target, "first_epoch_at_target": reached}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["lenet5", "vgg_small", "resnet20", "resnet56", "mobilenet_v2"])
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (a GPU, or a CPU with bf16 kernels)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per model")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--time-to", type=float, default=None, help="also train to this test accuracy (e.g. 0.93)")
    ap.add_argument("--recipe-models", nargs="+", default=["resnet20"])
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the time-to-accuracy recipe")
    ap.add_argument("--json", help="write the results to this path")
    args = ap.parse_args()
    known = set(list_models())
    unknown = [m for m in args.models + args.recipe_models if m not in known]
    if unknown:
        ap.error(f"unknown model(s): {', '.join(unknown)} (adlab.vision.list_models() has {len(known)})")
    for k in ("batch", "steps", "epochs"):
        if getattr(args, k) < 1:
            ap.error(f"--{k} must be >= 1")
    if args.time_to is not None and not 0 < args.time_to <= 1:
        ap.error("--time-to must be an accuracy in (0, 1]")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA GPU is available")
    device = torch.device(args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None

    speed = {m: images_per_second(m, args.batch, args.steps, args.warmup, device, args.amp) for m in args.models}
    ref = speed[args.models[0]]["images_per_s"]
    print(f"training images/s at 1x28x28, batch {args.batch}, device={device}{f' ({gpu})' if gpu else ''}, "
          f"{torch.get_num_threads()} threads{', bf16' if args.amp else ''}")
    w = max(map(len, speed))
    print(f"{'model':<{w}}  {'parameters':>11}  {'images/s':>10}  {'vs ' + args.models[0]:>12}")
    for m, r in speed.items():
        r["ratio_to_first"] = r["images_per_s"] / ref
        print(f"{m:<{w}}  {r['parameters']:>11,}  {r['images_per_s']:>10,.0f}  {r['ratio_to_first']:>12.3f}")
    recipes = []
    if args.time_to is not None:
        for m in args.recipe_models:
            r = time_to_accuracy(m, args.time_to, args.epochs, device, args.amp)
            recipes.append(r)
            at = f"reached at epoch {r['first_epoch_at_target']}" if r["first_epoch_at_target"] else "not reached"
            print(f"{m}: {args.epochs} epochs in {r['seconds_total']:.1f} s (training and per-epoch evaluation), test accuracy "
                  f"{', '.join(f'{a:.4f}' for a in r['test_accuracy_by_epoch'])}; target {args.time_to} {at}")
    if args.json:
        info = {"device": str(device), "gpu": gpu, "amp": args.amp, "torch": torch.__version__, "threads": torch.get_num_threads(),
                "batch": args.batch, "steps": args.steps, "warmup": args.warmup}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"settings": info, "images_per_s": speed, "time_to_accuracy": recipes}, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
