#!/usr/bin/env bash
# The training-recipe comparison of benchmarks/TRAINING.md: five configurations at equal CPU time.
#
#   RUNS=/path/outside/the/checkout bash benchmarks/recipe.sh      # default RUNS=../runs
#
# Each configuration trains for 20 minutes of one core of this CPU (taskset -c 1, one thread for
# TensorFlow and oneDNN), then gets SIGINT: the run writes a checkpoint and exports its weights at the
# step it reached. Re-running the script skips finished configurations and resumes a cut-off one.
# Then: for r in "$RUNS"/*/; do beatgan evaluate --weights $r/weights --reference data/open_loops -n 500 -o $r/evaluation; done
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-$REPO/../runs}
B=$REPO/.venv/bin/beatgan
BUDGET=${BUDGET:-1200}  # seconds of one core per configuration
export OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p "$RUNS" && cd "$RUNS" || exit 1
[ -f dataset.npz ] || taskset -c 1 $B prepare "$REPO/data/open_loops" -o dataset.npz --quiet
[ -f dataset32k.npz ] || taskset -c 1 $B prepare "$REPO/data/open_loops" -o dataset32k.npz --slice-len 32768 --quiet
common="--steps 100000 --checkpoint-every 100 --preview-every 1000 --log-every 25 --eval-every 0 --seed 0 --quiet"
run() {  # name data options...
  name=$1; data=$2; shift 2
  [ -f "$name.done" ] && return
  date +%s > "$name.start"
  timeout -s INT "$BUDGET" taskset -c 1 $B train "$data" --run-dir "$name" $common "$@" > "$name.log" 2>&1
  date +%s > "$name.done"
}
run A_d16_b16_f32   dataset.npz --model-dim 16 --batch-size 16 --precision float32
run B_d16_b16_bf16  dataset.npz --model-dim 16 --batch-size 16 --precision bfloat16
run C_d24_b16_bf16  dataset.npz --model-dim 24 --batch-size 16 --precision bfloat16
run D_d16_ttur_bf16 dataset.npz --model-dim 16 --batch-size 16 --precision bfloat16 --d-steps 2 --d-learning-rate 0.0003
run E_bar_d16_bf16  dataset32k.npz --model-dim 16 --batch-size 16 --precision bfloat16 --slice-len 32768
