"""Vision training speed: images/s per architecture at 28x28, and time to a test accuracy on Fashion-MNIST.

Part 1 (always): every model in ``--models`` takes the same random batches (forward, backward,
SGD step, channels-last), one after the other in this process; we report training images/s from
the median step and the ratio to the first model, which does not depend on how fast the machine is.

Part 2 (``--time-to 0.93``): each model in ``--recipe-models`` is trained once with the fast recipe
(``adlab.vision.recipe.fit``: Nesterov SGD, one-cycle to peak ``--recipe-lr``, label smoothing 0.1,
flips, ``--epochs`` passes over all 60,000 training images at batch ``--recipe-batch``). Its seconds
are training only: the test images are scored once, after the last epoch (all 10,000 of them, and
with ``--tta`` also as the mean of the logits of each image and its mirror image); with ``--curve``
they are scored after every epoch as well, and those evaluations then count in the seconds. The
target is reached when the final accuracy (with ``--tta``: the flip-averaged one) is at least it.
Needs the Fashion-MNIST files (``adlab data fetch fashion-mnist``).

    python benchmarks/vision_speed.py --models lenet5 vgg_small resnet20 --json out.json
    python benchmarks/vision_speed.py --time-to 0.93 --recipe-models resnet20 --epochs 4
    # the CPU speed target (93% in <= 90 s on 2 cores; 77 s, 0.932 flip-averaged in docs/vision.md):
    python benchmarks/vision_speed.py --models vgg_small_flat vgg_small_fast --amp --time-to 0.93 \
        --recipe-models vgg_small_fast --epochs 6 --recipe-batch 128 --recipe-lr 0.2 --tta
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

from adlab.core.context import COMPILE_MODES, cudagraph_steps, synchronize
from adlab.vision import create_model, list_models


def images_per_second(name: str, batch: int, steps: int, warmup: int, device: torch.device, amp: bool,
                      compile_mode: str | None = None) -> dict:
    """Training images/s of ``name`` at 1x28x28 (median step over ``steps`` timed steps);
    ``compile_mode``: run the steps through ``torch.compile`` in that mode (5 more warm-up steps)."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1, image_size=28).to(device).to(memory_format=torch.channels_last)
    run = torch.compile(model, mode=compile_mode) if compile_mode else model
    graphs = cudagraph_steps(compile_mode, device)
    warmup += 5 if compile_mode else 0
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, 28, 28, generator=g).to(device).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    times = []
    for i in range(warmup + steps):
        synchronize(device)
        t = time.perf_counter()
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(run(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    step = statistics.median(times)
    return {"images_per_s": batch / step, "median_step_s": step, "parameters": sum(p.numel() for p in model.parameters())}


def time_to_accuracy(name: str, target: float, epochs: int, device: torch.device, amp: bool, batch: int = 64, lr: float = 0.1,
                     tta: bool = False, curve: bool = False, seed: int = 0, compile_mode: str | None = None) -> dict:
    """Train ``name`` with the fast recipe for ``epochs``; training seconds and the final test accuracy.

    ``tta``: also score each test image as the mean logits of the image and its horizontal mirror.
    ``curve``: also score the test images after every epoch (those evaluations count in the seconds).
    """
    from adlab.core.context import RunContext
    from adlab.data.fashion_mnist import tensors
    from adlab.vision.recipe import Recipe, fit, predict

    x_tr, y_tr = tensors("train", None, seed)
    x_te, y_te = tensors("test", None, seed + 1)
    recipe = Recipe(epochs=epochs, batch_size=batch, lr=lr, crop_padding=0, flip=True, amp=amp, channels_last=True,
                    compile=compile_mode)
    torch.manual_seed(seed)
    model = create_model(name, num_classes=10, in_channels=1, image_size=28)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(out=Path(tmp), experiment="vision-speed", preset="bench", seed=seed, device=device)
        res = fit(name, model, recipe, (x_tr, y_tr), ctx, evals={"test": (x_te, y_te)} if curve else None)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        logits = predict(model, x_te, device)  # (N, 10)
        accuracy = float((logits.argmax(1) == y_te).float().mean())
        flip_accuracy = None
        if tta:  # mean of the logits of x and of its mirror image x[..., ::-1]
            logits = logits + predict(model, x_te.flip(-1), device)
            flip_accuracy = float((logits.argmax(1) == y_te).float().mean())
    final = flip_accuracy if tta else accuracy
    return {"model": name, "epochs": epochs, "batch": batch, "peak_lr": lr, "seed": seed,
            "seconds_total": res.seconds, "seconds_include_evaluations": curve,
            "test_accuracy_by_epoch": [h["test"]["accuracy"] for h in res.history] if curve else None,
            "final_accuracy": accuracy, "final_accuracy_flip_tta": flip_accuracy, "target": target, "reached": final >= target}


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
    ap.add_argument("--recipe-batch", type=int, default=64, help="minibatch size of the time-to-accuracy recipe")
    ap.add_argument("--recipe-lr", type=float, default=0.1, help="peak learning rate of the time-to-accuracy recipe")
    ap.add_argument("--tta", action="store_true", help="score the test images flip-averaged (test-time augmentation)")
    ap.add_argument("--curve", action="store_true", help="also score the test images after every epoch (counted in the seconds)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the time-to-accuracy run (weights, batch order)")
    ap.add_argument("--compile", default=None, choices=COMPILE_MODES,
                    help="torch.compile mode for every model and recipe (reduce-overhead: CUDA graphs)")
    ap.add_argument("--json", help="write the results to this path")
    args = ap.parse_args()
    known = set(list_models())
    unknown = [m for m in args.models + args.recipe_models if m not in known]
    if unknown:
        ap.error(f"unknown model(s): {', '.join(unknown)} (adlab.vision.list_models() has {len(known)})")
    if args.recipe_lr <= 0:
        ap.error("--recipe-lr must be > 0")
    for k in ("batch", "steps", "epochs", "recipe_batch"):
        if getattr(args, k) < 1:
            ap.error(f"--{k.replace('_', '-')} must be >= 1")
    if args.time_to is not None and not 0 < args.time_to <= 1:
        ap.error("--time-to must be an accuracy in (0, 1]")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA GPU is available")
    device = torch.device(args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None

    speed = {m: images_per_second(m, args.batch, args.steps, args.warmup, device, args.amp, args.compile) for m in args.models}
    ref = speed[args.models[0]]["images_per_s"]
    print(f"training images/s at 1x28x28, batch {args.batch}, device={device}{f' ({gpu})' if gpu else ''}, "
          f"{torch.get_num_threads()} threads{', bf16' if args.amp else ''}{f', compile {args.compile}' if args.compile else ''}")
    w = max(map(len, speed))
    print(f"{'model':<{w}}  {'parameters':>11}  {'images/s':>10}  {'vs ' + args.models[0]:>12}")
    for m, r in speed.items():
        r["ratio_to_first"] = r["images_per_s"] / ref
        print(f"{m:<{w}}  {r['parameters']:>11,}  {r['images_per_s']:>10,.0f}  {r['ratio_to_first']:>12.3f}")
    recipes = []
    if args.time_to is not None:
        for m in args.recipe_models:
            r = time_to_accuracy(m, args.time_to, args.epochs, device, args.amp, args.recipe_batch, args.recipe_lr,
                                 args.tta, args.curve, args.seed, args.compile)
            recipes.append(r)
            curve = f"; after each epoch {', '.join(f'{a:.4f}' for a in r['test_accuracy_by_epoch'])}" if args.curve else ""
            tta = f", flip-averaged {r['final_accuracy_flip_tta']:.4f}" if args.tta else ""
            what = "training and per-epoch evaluation" if args.curve else "training only"
            print(f"{m}: {args.epochs} epochs, batch {args.recipe_batch}, peak lr {args.recipe_lr:g}: {r['seconds_total']:.1f} s ({what}); "
                  f"final test accuracy {r['final_accuracy']:.4f}{tta}{curve}; target {args.time_to} "
                  f"{'reached' if r['reached'] else 'not reached'}")
    if args.json:
        info = {"device": str(device), "gpu": gpu, "amp": args.amp, "torch": torch.__version__, "threads": torch.get_num_threads(),
                "batch": args.batch, "steps": args.steps, "warmup": args.warmup, "compile": args.compile}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"settings": info, "images_per_s": speed, "time_to_accuracy": recipes}, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
