#!/usr/bin/env bash
# One GPU session's worth of adlab: the throughput benchmarks alone on the card, then the full
# presets of the GPU-scale flagships side by side until a deadline; every run directory (minus
# checkpoints) and every log is packed into $OUT. Runs that the deadline cuts off keep their
# checkpoints under runs/ and continue with `adlab run NAME --resume RUN_DIR`.
#
#   OUT=/tmp/gpu bash benchmarks/gpu_session.sh            # on a CUDA machine
#   ADLAB_GPU_DRY=1 OUT=/tmp/dry bash benchmarks/gpu_session.sh   # plumbing check on a CPU
#
# Environment: DEADLINE_S (seconds from start at which unfinished runs are stopped, default
# 540), ADLAB_DATA (data folder; default .gpu/data when it exists), JOBS (full presets to run;
# NAME:KEY=VALUE,KEY=VALUE changes fields of the full preset, e.g. vision.resnet-vs-plain:epochs=8;
# A+B runs B after A in one slot),
# BENCH=0 (skip the benchmarks), GPT_SPEED_ARGS (more gpt_speed options, e.g. "--fused-adamw
# --compile-mode max-autotune-no-cudagraphs"), GPT_SPEED_S (its time limit, default 170), VISION_SPEED=0 (skip
# vision_speed), COMPILE_CHECK=1 (first run a smoke preset with compile=reduce-overhead on the
# card; if it fails, drop every compile=... setting from JOBS and run those jobs eagerly),
# KEEP_CHECKPOINTS=1 (also pack each run the deadline cut off as $OUT/ckpt-NAME.tar, split into 15 MiB parts
# ckpt-NAME.tar.part0, ... when larger, 56 MiB in all: to resume it in a later call, unpack it here
# (cat ckpt-NAME.tar* | tar -x) and carry runs/gpu/NAME, then JOBS="NAME:resume" ...).
set -u
T0=$(date +%s)
DEADLINE_S=${DEADLINE_S:-540}
OUT=${OUT:?set OUT to the folder for results}
mkdir -p "$OUT/logs"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
[ -z "${ADLAB_DATA:-}" ] && [ -d .gpu/data ] && export ADLAB_DATA="$PWD/.gpu/data"
PY=${PY:-python3}
left() { echo $((DEADLINE_S - ($(date +%s) - T0))); }

if [ -n "${ADLAB_GPU_DRY:-}" ]; then
  DEV=cpu; PRESET=smoke; BENCH_GPT=(--preset cpu --steps 3 --warmup 1 ${GPT_SPEED_ARGS:-}); BENCH_VIS=(--models lenet5 --steps 2 --warmup 1)
else
  DEV=cuda; PRESET=full
  BENCH_GPT=(--preset gpu --device cuda --dtype bf16 --compile --lstm --steps 30 --warmup 5 ${GPT_SPEED_ARGS:-})
  BENCH_VIS=(--device cuda --amp --batch 128 --steps 20 --warmup 5 --models lenet5 vgg_small alexnet vgg11_bn vgg16_bn
             googlenet resnet20 resnet56 se_resnet20 preact_resnet18 resnet18 densenet_bc mobilenet_v2 wrn16_4 wrn28_10 wrn40_4)
fi
JOBS=${JOBS:-language.gpt-char sequences.char-lm gans.infogan gans.truncation}

{ date -u; nvidia-smi -L 2>&1; nproc; $PY -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))'; } >"$OUT/logs/machine.txt" 2>&1
cat "$OUT/logs/machine.txt"

# 1. throughput, alone on the card (each benchmark measures its own baseline in the same process)
if [ "${BENCH:-1}" != 0 ]; then
timeout "${GPT_SPEED_S:-170}" $PY benchmarks/gpt_speed.py "${BENCH_GPT[@]}" --json "$OUT/gpt_speed.json" >"$OUT/logs/gpt_speed.log" 2>&1
echo "gpt_speed rc=$? at $(( $(date +%s) - T0 )) s"; tail -n 12 "$OUT/logs/gpt_speed.log"
if [ "${VISION_SPEED:-1}" != 0 ]; then
timeout 100 $PY benchmarks/vision_speed.py "${BENCH_VIS[@]}" --json "$OUT/vision_speed.json" >"$OUT/logs/vision_speed.log" 2>&1
echo "vision_speed rc=$? at $(( $(date +%s) - T0 )) s"; tail -n 20 "$OUT/logs/vision_speed.log"
fi
fi

# 1b. does a compiled (CUDA-graph) training step work on this card? If not, run the jobs eagerly.
if [ "${COMPILE_CHECK:-0}" != 0 ]; then
  timeout 240 $PY -m adlab run vision.fashion-leaderboard --preset smoke --device "$DEV" --set models=resnet20 \
    --set compile=reduce-overhead --set amp=true --out runs/gpu/compile-check >"$OUT/logs/compile-check.log" 2>&1
  rc=$?; echo "compile check rc=$rc at $(( $(date +%s) - T0 )) s"; tail -n 5 "$OUT/logs/compile-check.log"
  if [ $rc != 0 ]; then JOBS=$(echo "$JOBS" | sed -E 's/,?compile=[a-z-]+//g; s/:,/:/g; s/:( |$)/\1/g'); echo "running eagerly: $JOBS"; fi
fi

# 2. the full presets side by side, two CPU threads each, stopped at the deadline; "A+B" in JOBS runs
#    B after A in the same slot (e.g. contextual-senses reusing bert-finetune's pretraining)
run_job() {  # one NAME[:KEY=VALUE,...] (or NAME:resume), in the foreground, until the deadline
  local job=$1 name=${1%%:*} sets=() run_args
  if [ "$job" != "$name" ]; then IFS=, read -ra kv <<<"${job#*:}"; for s in "${kv[@]}"; do sets+=(--set "$s"); done; fi
  [ "$(left)" -gt 10 ] || { echo "no time left for $name"; return 124; }
  if [ "${sets[*]:-}" = "--set resume" ]; then run_args=(--resume "runs/gpu/$name"); else run_args=(--preset "$PRESET" "${sets[@]}" --out "runs/gpu/$name"); fi
  OMP_NUM_THREADS=2 timeout -s INT -k 15 "$(left)" $PY -m adlab run "$name" --device "$DEV" "${run_args[@]}" >"$OUT/logs/$name.log" 2>&1
}
pids=()
for slot in $JOBS; do
  ( IFS=+ read -ra chain <<<"$slot"
    for job in "${chain[@]}"; do run_job "$job"; rc=$?; echo "$job rc=$rc at $(( $(date +%s) - T0 )) s"; [ $rc = 0 ] || exit $rc; done ) &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

# 3. pack: run directories without checkpoints, and the logs
tar -czf "$OUT/runs.tar.gz" --exclude='*.safetensors' --exclude='checkpoints' runs/gpu 2>/dev/null
if [ "${KEEP_CHECKPOINTS:-0}" != 0 ]; then  # runs without a verdict keep their run folder, to resume later
  # at most 8 files of 16 MiB, 64 MiB in all, come back from the device: a tar over one part's size is split
  # into ckpt-NAME.tar.part0, .part1, ... (rejoin with cat); runs that would pass the total are dropped
  part=${CKPT_PART_BYTES:-$((15 * 1024 * 1024))} room=${CKPT_TOTAL_BYTES:-$((56 * 1024 * 1024))} files=6
  for d in runs/gpu/*/; do
    n=$(basename "$d"); [ -f "$d/verdict.json" ] && continue
    tar -cf "$OUT/ckpt-$n.tar" "$d" 2>/dev/null
    size=$(stat -c %s "$OUT/ckpt-$n.tar"); parts=$(( (size + part - 1) / part ))
    if [ "$size" -gt "$room" ] || [ "$parts" -gt "$files" ]; then
      echo "ckpt-$n.tar ($size bytes) does not fit in what may come back: dropped"; rm -f "$OUT/ckpt-$n.tar"; continue
    fi
    room=$((room - size)); files=$((files - parts))
    if [ "$parts" -gt 1 ]; then
      split -b "$part" -d -a 1 "$OUT/ckpt-$n.tar" "$OUT/ckpt-$n.tar.part" && rm -f "$OUT/ckpt-$n.tar"
      echo "ckpt-$n.tar ($size bytes) split into $parts parts: cat ckpt-$n.tar.part* | tar -x"
    fi
  done
fi
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
ls -la "$OUT"
echo "done at $(( $(date +%s) - T0 )) s"
