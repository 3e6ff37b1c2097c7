#!/usr/bin/env bash
# Every check that needs a GPU: the CUDA tests, the CUDA figures of
# bench_hypergrad, bench_batched and bench_batched_attack, and the full Fig. 2
# sweep (LR, MNIST 0 vs 8, default sizes, 10 repetitions batched into one
# attack per strategy) on the GPU.
#
# Run from the repository root on the GPU machine, with MNIST carried along:
#   mkdir -p .gpudata && cp -r ../shared/data/mnist .gpudata/      # here, once
#   bash benchmarks/gpu_checks.sh [tests] [bench] [fig2] [compile] # there
# No argument runs tests, bench and fig2 (compile, torch.compile vs eager
# steps, only when named). Each step has its own time limit (tests
# 120 s, benchmarks 90 + 60 + 90 s, Fig. 2 210 s: 9.5 minutes in all at worst),
# so one slow step cannot eat the others; with a 10-minute limit per call,
# "tests bench" and "fig2" can also go in two calls. Results (at most 8 files)
# go to $OUT (default benchmarks/results/gpu). In a call of its own, give the
# sweep room to finish past the target: FIG2_LIMIT=420 bash ... fig2 (the
# time is what the report needs; the target is 300 s). FIG2_JOBS (default 1)
# runs the four strategies' cells in that many processes sharing the GPU.
set -u
ROOT=$(pwd)
OUT=${OUT:-$ROOT/benchmarks/results/gpu}
mkdir -p "$OUT"
export PYTHONPATH=$ROOT PYTHONUNBUFFERED=1
export SKPOISON_MNIST_DIR=$ROOT/.gpudata/mnist SKPOISON_DATA=$ROOT/.gpudata
LOG=$OUT/gpu_checks.log
step() {  # step SECONDS NAME COMMAND...
    local limit=$1 name=$2
    shift 2
    echo "=== $name ($(date -u +%H:%M:%S), limit ${limit}s)" | tee -a "$LOG"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    echo "=== $name: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s" | tee -a "$LOG"
}

{ nvidia-smi -L; python3 -c "import torch, sklearn, platform; print('torch', torch.__version__,
'| sklearn', sklearn.__version__, '| python', platform.python_version(), '|',
torch.cuda.get_device_name())"; } 2>&1 | tee "$OUT/device.txt" | tee -a "$LOG"

python3 - <<'PY' 2>&1 | tee -a "$LOG"
import sklearn
major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
if (major, minor) < (1, 6):
    print(f"scikit-learn {sklearn.__version__} is older than skpoison's minimum 1.6: "
          "carry a wheel (see .library/device/README.md) and install it first.")
PY

PARTS=${*:-tests bench fig2}
if [[ " $PARTS " == *" tests "* ]]; then
    step 120 "CUDA tests" python3 -m pytest -q -m cuda -p no:cacheprovider tests
fi
if [[ " $PARTS " == *" bench "* ]]; then
    step 90 "bench_hypergrad (CUDA)" python3 benchmarks/bench_hypergrad.py --device cuda \
        --repeats 9 --out "$OUT/bench_hypergrad.json"
    step 60 "bench_batched (CUDA)" python3 benchmarks/bench_batched.py --device cuda \
        --threads 1 --repeats 5 --out "$OUT/bench_batched.json"
    step 90 "bench_batched_attack (CUDA)" python3 benchmarks/bench_batched_attack.py \
        --device cuda --repeats 3 --out "$OUT/bench_batched_attack.json"
fi
if [[ " $PARTS " == *" compile "* ]]; then   # optional: not in the default parts
    step 90 "bench_compile (CUDA)" python3 benchmarks/bench_compile.py --device cuda \
        --out "$OUT/bench_compile.json"
fi
if [[ " $PARTS " == *" fig2 "* ]]; then
    rm -rf /tmp/skpoison-fig2   # a fresh sweep: a resumed one would time nothing
    step "${FIG2_LIMIT:-210}" "Fig. 2 full sweep (CUDA, float32, 10 repetitions batched)" \
        python3 -m skpoison reproduce fig2 --dataset mnist --data-home "$ROOT/.gpudata" \
        --device cuda --dtype float32 --batch-repetitions 10 --n-jobs "${FIG2_JOBS:-1}" \
        --no-plot \
        --no-progress --out /tmp/skpoison-fig2
    cp /tmp/skpoison-fig2/fig2.csv "$OUT/fig2_cuda.csv" 2>/dev/null
fi
echo "done: $PARTS" | tee -a "$LOG"
