#!/usr/bin/env bash
# The standing order's device calls, prepared: run on a lent GPU from the checkout's root, carrying build/device
# (made here by `python scripts/device_train.py pack`). One call may run 10 minutes and the session has 15 in all,
# starting included, so the work is two calls on the same (warm) machine:
#
#   bash scripts/device_session.sh train 8   # timeout_s 570: train full-size WaveGAN for 8 minutes, everything
#                                            # included; export, shard, write the first batch to $OUT
#   bash scripts/device_session.sh finish    # timeout_s 300: the rest of the shards (`collect`), then the GPU
#                                            # rows of benchmarks/RESULTS.md (JAX step, bfloat16 and float32),
#                                            # printed last so they end the returned output
#
# Rehearsed on a CPU with CARRY=build/device-rehearsal BENCH_ARGS="--model-dim 4 --batch-size 8 --steps 2 --warmup 1".
set -uo pipefail
PHASE="${1:?usage: device_session.sh train [MINUTES] | finish}"
CARRY="${CARRY:-build/device}"
: "${OUT:?set OUT to the folder whose files come back}"
case "$PHASE" in
train)
    python3 scripts/device_train.py run --carry "$CARRY" --minutes "${2:-8}" --out "$OUT" --log-every 100
    ;;
finish)
    python3 scripts/device_train.py collect --out "$OUT" || echo "(nothing left to collect)"
    export PYTHONPATH=/tmp/beatgan-site KERAS_BACKEND=jax PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
    for precision in bfloat16 float32; do
        timeout 120 python3 benchmarks/train_step.py --backend jax --device h200 --steps 20 --warmup 3 \
            --precision "$precision" --xla-flops ${BENCH_ARGS:-} 2>&1 | grep -v "^WARNING" | tail -12
    done
    ;;
*)
    echo "device_session.sh: unknown phase '$PHASE': train [MINUTES] or finish" >&2
    exit 2
    ;;
esac
