#!/usr/bin/env bash
# The standing order's device call, prepared: run on a lent GPU from the checkout's root, carrying build/device
# (made here by `python scripts/device_train.py pack`). It trains full-size WaveGAN for MINUTES (default 8,
# everything included), exports and shards the weights into $OUT, then times the training step for the
# GPU rows of benchmarks/RESULTS.md (float32 and bfloat16, printed last so they end the returned output).
# A second call, `python3 scripts/device_train.py collect --out "$OUT"`, brings the rest of the critic.
#   device run: bash scripts/device_session.sh 8        (timeout_s about 720; carry ["build/device"])
# Rehearsed on a CPU with CARRY=build/device-rehearsal BENCH_ARGS="--model-dim 4 --batch-size 8 --steps 2 --warmup 1".
set -uo pipefail
MINUTES="${1:-8}"
CARRY="${CARRY:-build/device}"
: "${OUT:?set OUT to the folder whose files come back}"
python3 scripts/device_train.py run --carry "$CARRY" --minutes "$MINUTES" --out "$OUT" --log-every 100
status=$?
export PYTHONPATH=/tmp/beatgan-site KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
for precision in bfloat16 float32; do
    timeout 150 python3 benchmarks/train_step.py --backend jax --device h200 --steps 20 --warmup 3 \
        --precision "$precision" --xla-flops ${BENCH_ARGS:-} 2>&1 | grep -v "^WARNING" | tail -12
done
exit "$status"
