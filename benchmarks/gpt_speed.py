"""GPT training throughput: tokens/s and model-FLOPs utilisation, written-out attention vs SDPA.

Each contender trains the same decoder-only GPT (``adlab.language.gpt``) on the same random
token batches (throughput does not depend on the data), in the same process, one after the
other; we report training tokens per second (batch x context per optimizer step, median step
time) and the ratio to the written-out attention, which does not depend on how fast the machine is.

- ``written``: attention written out, $\\mathrm{softmax}(QK^\\top/\\sqrt{d_k} + M)V$;
- ``sdpa``: the same weights through ``torch.nn.functional.scaled_dot_product_attention``;
- ``sdpa+compile``: the ``sdpa`` model under ``torch.compile`` (``--compile``); with several
  ``--compile-mode`` values, one contender per mode (``sdpa+compile[max-autotune]``, ...);
- ``lstm`` (``--lstm``): the 2-layer character LSTM of ``language.gpt-char`` (``torch.nn.LSTM``, cuDNN
  on a GPU) with its hidden size solved for the GPT's parameter count, on the same batches: the
  lecture's claim that a transformer "trains faster per wall-clock on parallel hardware" than an
  LSTM of equal size is the ratio of the GPT's tokens/s to this one's (``vs lstm`` in the table).

Two timings per contender: the median of single steps, each between two device synchronisations
(``step``), and the throughput of ``--steps`` steps run back to back with one synchronisation at
each end (``loop``), as a training loop that does not read the loss every step runs them; on a
GPU the loop lets the host queue the next step's kernels while the card still works, so
launch-bound configurations gain. ``tokens_per_s`` is the loop figure; with ``--rounds R`` it is
the median of R more loops in which the contenders take turns, so that a machine whose speed
drifts (a shared CPU) slows all of them alike.

``--dtype bf16`` trains under bf16 autocast (on a GPU, or on a CPU with bf16 kernels, e.g. AVX512-BF16);
``--dtype fp32 bf16`` times every contender in both, in the same process (names ``...@bf16``). FLOPs per token follow the usual
estimate $6N + 12 L H Q T$ ($N$ parameters without the position table, $L$ layers, $H$ heads,
$Q$ head width, $T$ context); model-FLOPs utilisation (MFU) is achieved FLOP/s over
``--peak-tflops`` (default: 989 for H100/H200 bf16 dense, none on a CPU).

Presets (``--preset``): ``cpu`` is 4 layers, 4 heads, 128 channels, context 64, batch 12 (the
issue's CPU target: >= 24k tokens/s); ``gpu`` is 6 layers, 6 heads, 384 channels, context 256,
batch 64 (target on an H200 in bf16: >= 2.0M tokens/s).

    python benchmarks/gpt_speed.py --preset cpu --steps 30 --json out.json
    python benchmarks/gpt_speed.py --preset cpu --dtype fp32 bf16 --fused-adamw --steps 50 --rounds 5
    python benchmarks/gpt_speed.py --preset gpu --device cuda --dtype bf16 --compile --json out.json
    python benchmarks/gpt_speed.py --preset gpu --device cuda --dtype bf16 --lstm --compile --compile-mode reduce-overhead
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import time
from typing import Callable

import torch

from adlab.core.context import COMPILE_MODES, cudagraph_steps, synchronize
from adlab.language.charlm import CharLSTM, match_lstm_hidden
from adlab.language.gpt import GPT, GPTConfig

PRESETS = {
    "cpu": {"n_layer": 4, "n_head": 4, "d_model": 128, "block_size": 64, "batch": 12, "target": 24_000},
    "gpu": {"n_layer": 6, "n_head": 6, "d_model": 384, "block_size": 256, "batch": 64, "target": 2_000_000},
}
GPU_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}
"""Dense bf16 tensor-core peaks (TFLOP/s) of common cards, for MFU."""


def flops_per_token(model: GPT) -> float:
    r"""$6N + 12 L H Q T$: forward + backward matmul FLOPs per trained token."""
    c = model.cfg
    n = model.num_parameters() - (c.block_size * c.d_model if c.positions == "learned" else 0)
    return 6 * n + 12 * c.n_layer * c.n_head * (c.d_model // c.n_head) * c.block_size


def lstm_flops_per_token(model: CharLSTM) -> float:
    r"""$6N$ without the embedding table (a lookup, no multiply): every other weight is used once per
    token in the forward pass (2 FLOPs) and twice in the backward pass (4 FLOPs)."""
    return 6 * (sum(p.numel() for p in model.parameters()) - model.emb.weight.numel())


def make_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, autocast, fused: bool = False,
              cudagraphs: bool = False) -> Callable[[], torch.Tensor]:
    """One AdamW training step of ``model`` on ``(x, y)`` as a closure returning the loss. ``fused``:
    torch's single-kernel AdamW instead of the per-parameter loop; ``cudagraphs``: mark each step's
    start for a CUDA-graph compile mode."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1, **({"fused": True} if fused else {}))

    def step() -> torch.Tensor:
        if cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast():
            _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def loop_seconds(step: Callable[[], torch.Tensor], steps: int, device: torch.device) -> tuple[float, torch.Tensor]:
    """Seconds per step of ``steps`` steps run back to back, one synchronisation at each end; the last loss."""
    synchronize(device)
    t = time.perf_counter()
    for _ in range(steps):
        loss = step()
    synchronize(device)
    return (time.perf_counter() - t) / steps, loss


def train_speed(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int, autocast,
    fused: bool = False, cudagraphs: bool = False,
) -> dict:
    """Train for ``warmup`` + ``steps`` synchronised AdamW steps (median step time), then ``steps``
    more back to back (loop throughput); the step closure comes back under ``"step"``."""
    step = make_step(model, x, y, autocast, fused, cudagraphs)
    times = []
    for i in range(warmup + steps):
        synchronize(x.device)
        t = time.perf_counter()
        step()
        synchronize(x.device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    loop, loss = loop_seconds(step, steps, x.device)
    median = statistics.median(times)
    return {"median_step_s": median, "step_tokens_per_s": x.numel() / median, "loop_step_s": loop,
            "tokens_per_s": x.numel() / loop, "final_loss": float(loss), "step": step}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--dtype", nargs="+", choices=("fp32", "bf16"), default=["fp32"],
                    help="bf16: autocast (GPU, or a CPU with bf16 kernels); several: every contender in each")
    ap.add_argument("--compile", action="store_true", help="also time the SDPA model under torch.compile")
    ap.add_argument("--compile-mode", nargs="+", default=["default"], choices=COMPILE_MODES,
                    help="torch.compile mode(s), one contender each (reduce-overhead and max-autotune: CUDA graphs)")
    ap.add_argument("--fused-adamw", action="store_true", help="fused AdamW for every contender")
    ap.add_argument("--lstm", action="store_true",
                    help="also time the parameter-matched 2-layer LSTM language model of language.gpt-char on the same batches")
    ap.add_argument("--vocab", type=int, default=65, help="vocabulary size (Shakespeare characters: 65)")
    ap.add_argument("--steps", type=int, default=30, help="timed training steps per contender")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1,
                    help="after every contender's own timing, R more loops of --steps steps, the contenders taking turns; "
                         "tokens/s is then the median over the rounds (for machines whose speed drifts)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak FLOP/s of the device for MFU (TFLOP/s)")
    ap.add_argument("--json", help="write the results to this path")
    args = ap.parse_args()
    for k in ("vocab", "steps", "rounds"):
        if getattr(args, k) < 1:
            ap.error(f"--{k} must be >= 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA GPU is available")
    device = torch.device(args.device)
    p = PRESETS[args.preset]
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    dtypes = list(dict.fromkeys(args.dtype))
    peak = args.peak_tflops
    if peak is None and gpu is not None and dtypes == ["bf16"]:
        peak = next((v for k, v in GPU_PEAK_TFLOPS.items() if k in gpu), None)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True

    def autocast_for(dtype: str):
        def autocast():
            if dtype == "bf16":
                return torch.autocast(device.type, dtype=torch.bfloat16)
            return contextlib.nullcontext()
        return autocast

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, args.vocab, (p["batch"], p["block_size"]), generator=g).to(device)
    y = torch.randint(0, args.vocab, (p["batch"], p["block_size"]), generator=g).to(device)
    modes = list(dict.fromkeys(args.compile_mode))
    contenders: dict[str, tuple[bool | None, str | None, str]] = {}  # name: (SDPA? None for the LSTM, compile mode, dtype)
    for dtype in dtypes:
        tag = "" if len(dtypes) == 1 else f"@{dtype}"
        contenders[f"written{tag}"] = (False, None, dtype)
        contenders[f"sdpa{tag}"] = (True, None, dtype)
        if args.compile:
            for mode in modes:
                contenders[("sdpa+compile" if len(modes) == 1 else f"sdpa+compile[{mode}]") + tag] = (True, mode, dtype)
        if args.lstm:
            contenders[f"lstm{tag}"] = (None, None, dtype)
    info = {"preset": args.preset, **p, "device": str(device), "gpu": gpu, "dtype": dtypes if len(dtypes) > 1 else dtypes[0], "torch": torch.__version__,
            "threads": torch.get_num_threads(), "vocab": args.vocab, "steps": args.steps, "warmup": args.warmup,
            "fused_adamw": args.fused_adamw, "rounds": 1, "compile_modes": modes if args.compile else None, "peak_tflops": peak}
    gpt_cfg = GPTConfig(vocab_size=args.vocab, block_size=p["block_size"], n_layer=p["n_layer"], n_head=p["n_head"], d_model=p["d_model"])
    reference = GPT(gpt_cfg)  # on the CPU, for the counts only
    fpt = flops_per_token(reference)
    if args.lstm:
        info["lstm_hidden"] = match_lstm_hidden(reference.num_parameters(), args.vocab, 2)
    results, step_fns = {}, {}

    def derive(r: dict) -> None:  # the figures that follow from tokens/s
        r["loop_step_s"] = x.numel() / r["tokens_per_s"]
        r["tflops"] = r["tokens_per_s"] * r["flops_per_token"] / 1e12
        if peak:
            r["mfu"] = r["tflops"] / peak
        r["ratio_to_written"] = r["tokens_per_s"] / (next(iter(results.values())) if results else r)["tokens_per_s"]

    def write_json() -> None:
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump({"settings": {**info, "flops_per_token": fpt}, "results": results}, f, indent=2)
    for name, (fast, mode, dtype) in contenders.items():
        torch.manual_seed(0)
        if fast is None:  # the LSTM
            model = CharLSTM(args.vocab, info["lstm_hidden"], num_layers=2).to(device)
            model_fpt = lstm_flops_per_token(model)
        else:
            model = GPT(dataclasses.replace(gpt_cfg, fast_attention=fast)).to(device)
            model_fpt = fpt
        run = torch.compile(model, mode=mode) if mode else model
        t0 = time.perf_counter()
        try:
            r = train_speed(run, x, y, args.steps, args.warmup + (10 if mode else 0), autocast_for(dtype), fused=args.fused_adamw,
                            cudagraphs=cudagraph_steps(mode, device))
        except Exception as e:  # a compile mode that fails here must not cost the others' numbers
            if not mode:
                raise
            print(f"{name}: failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)
            continue
        step_fns[name] = r.pop("step")
        r["wall_s"] = time.perf_counter() - t0  # compilation included
        r["dtype"] = dtype
        r["parameters"] = sum(q.numel() for q in model.parameters())
        r["flops_per_token"] = model_fpt
        derive(r)
        results[name] = r
        print(f"{name}: {r['tokens_per_s']:,.0f} tokens/s (loop), {1000 * r['median_step_s']:.2f} ms per synchronised step, "
              f"{r['wall_s']:.0f} s", flush=True)
        write_json()  # after every contender, so that a run cut short keeps what it measured

    if args.rounds > 1 and results:  # the contenders take turns, so a drift in machine speed hits all alike
        per_round: dict[str, list[float]] = {k: [] for k in results}
        for _ in range(args.rounds):
            for k in results:
                per_round[k].append(x.numel() / loop_seconds(step_fns[k], args.steps, device)[0])
        for k, r in results.items():
            r["tokens_per_s_rounds"] = per_round[k]
            r["tokens_per_s"] = statistics.median(per_round[k])
        for r in results.values():  # the first contender first: it is every ratio's baseline
            derive(r)
        info["rounds"] = args.rounds
        write_json()

    print(f"GPT training, preset {args.preset} ({p['n_layer']} layers, {p['n_head']} heads, {p['d_model']} channels, "
          f"context {p['block_size']}, batch {p['batch']}), device={device}{f' ({gpu})' if gpu else ''}, {' and '.join(dtypes)}, "
          f"{torch.get_num_threads()} threads, {fpt / 1e6:.2f} MFLOPs/token{', fused AdamW' if args.fused_adamw else ''}"
          f"{f', compile mode {args.compile_mode[0]}' if args.compile and modes != ['default'] and len(modes) == 1 else ''}")
    lstm = {k: r for k, r in results.items() if k.startswith("lstm")}
    for k, r in results.items():  # GPT over LSTM tokens/s, in the same precision
        base = lstm.get("lstm" + k.partition("@")[1] + k.partition("@")[2])
        if base is not None:
            r["ratio_to_lstm"] = r["tokens_per_s"] / base["tokens_per_s"]
    w = max(map(len, results))
    print(f"{'path':<{w}}  {'tokens/s':>12}  {'loop (ms)':>9}  {'step (ms)':>9}  {'TFLOP/s':>8}  {'MFU':>6}  {'vs written':>10}"
          + (f"  {'vs lstm':>7}" if lstm else ""))
    for name, r in results.items():
        mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "-"
        print(f"{name:<{w}}  {r['tokens_per_s']:>12,.0f}  {1000 * r['loop_step_s']:>9.2f}  {1000 * r['median_step_s']:>9.2f}  "
              f"{r['tflops']:>8.3f}  {mfu:>6}  {r['ratio_to_written']:>10.2f}" + (f"  {r['ratio_to_lstm']:>7.2f}" if lstm else ""))
    if lstm:
        print(f"LSTM: 2 layers, hidden {info['lstm_hidden']}, {next(iter(lstm.values()))['parameters']:,} parameters "
              f"(GPT {next(r for k, r in results.items() if k not in lstm)['parameters']:,})")
    write_json()
    best = max((r for k, r in results.items() if k not in lstm), key=lambda r: r["tokens_per_s"])["tokens_per_s"]
    print(f"issue target for this preset: >= {p['target']:,} tokens/s ({'met' if best >= p['target'] else 'not met'} by the fastest path here"
          f"{'' if args.preset == 'cpu' or (gpu and 'H200' in gpu and 'bf16' in dtypes) else '; the target is stated for an H200 in bf16'})")
    if args.json:
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
