#!/usr/bin/env bash
# How flex and PyTorch scale with the number of CPU threads (issue 3, item 7: "the excitation
# pullback no slower than PyTorch's on the same cores"). On this project's 2-core machine flex's
# pullback is 0.5–0.9x PyTorch's; on a 16-core host it was 1.5–1.6x for ResNet50 with session
# 7's code (docs/performance.md "Session 8"), 0.86–1.26x with session 10's ("Session 10") and
# 0.51–0.93x with session 12's ("Session 13").
# This script measures, for each thread count, both sides with the SAME number of threads:
#
#   1. models.md: bench_models --backends flex --torch-threads T with RAYON_NUM_THREADS=T
#      (forward and excitation pullback, batches 1 and 5, median of 3), one table per T, and
#      at the largest T flex alone three more times: with --no-im2col-split (the im2col
#      GEMMs of several images, 1×1 and small-image convolutions, as before session 11: side
#      by side, each split by the gemm crate), with --passive-workers --mimalloc-purge (rayon's workers
#      sleep between operations, mimalloc's default purge delay: as before session 9) and
#      with --main-outside-pool added (the main thread outside rayon's pool too: as before
#      session 8);
#   2. profile.md (at the largest T): where a pass spends its time, flex by kind of operation
#      (bench_models --profile: the frozen convolutions, gates, pools and element-wise passes,
#      forward and backward, and the rest) and PyTorch by operator (torch.profiler's self
#      time), forward, vanilla gradient and pullback at batches 5 and 1;
#   3. convs.md: the per-layer convolutions (bench_convs, flex's and the frozen paths, and
#      tools/bench/convs_torch.py, PyTorch's) at batch 1 for each T and at batch 5 for the
#      largest T, to show which layer shapes stop scaling;
#   4. splits.md (at the largest T): how the 3×3 Winograd and the 1×1 convolutions at batch 5
#      split their work (bench_winograd, bench_pointwise: the split each plan chooses for T
#      against the one before session 11 and the plans for other thread counts), and
#      bench_winograd --sweep (every split of a grid) to check the plan's cost model.
#
# Runs from a release bundle (no Rust needed): the binaries of `scripts/gpu-check.sh --build`
# (target/gpu-bundle/, or its .tar.xz, which is unpacked) or of a local build
# (`--bundle target/release/examples` after `cargo build --release -p excitation --example
# bench_models --example bench_convs --example bench_winograd --example bench_pointwise`).
# Needs python3 with torch (torchvision for the models).
#
# Usage: scripts/cpu-scaling.sh [--out DIR] [--threads "1 4 16"] [--models resnet50,densenet121]
#                               [--python PATH] [--bundle DIR] [--timeout S] [--rounds N]
#                               [--no-convs] [--no-splits]
#   --threads   thread counts to measure, in this order (default: 1, 4 and all CPUs); the
#               flex-only variants run at the largest of them, after all counts
#   --timeout   stop each bench_models run after S seconds (default 120; 0: no limit)
#   --rounds    PyTorch and flex N times in turn per thread count (default 1; each cell is
#               then the median over the rounds, each ratio the median of the rounds' ratios)
# Output in --out (default ./cpu-scaling-out): env.txt, models.md, models.log, profile.md,
#   convs.md, splits.md, models-T.json, models-T-noim2colsplit.json,
#   models-T-passiveworkers_mimallocpurge.json,
#   models-T-passiveworkers_mimallocpurge_mainoutsidepool.json.
# On a lent machine whose tool returns at most eight files (this project's `device` tool),
# write --out elsewhere and pack it: `--out /tmp/s ...; tar -C /tmp -czf $OUT/s.tgz s`.
set -euo pipefail
cd "$(dirname "$0")/.."

out=cpu-scaling-out
threads="1 4 $(nproc)"
models=resnet50,densenet121
python=${PYTHON:-python3}
bundle=target/gpu-bundle
timeout_s=120
rounds=1
convs=1
splits=1
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift ;;
        --threads) threads=$2; shift ;;
        --models) models=$2; shift ;;
        --python) python=$2; shift ;;
        --bundle) bundle=$2; shift ;;
        --timeout) timeout_s=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        --no-convs) convs=0 ;;
        --no-splits) splits=0 ;;
        -h|--help) sed -n '2,48p' "$0"; exit 0 ;;
        *) echo "cpu-scaling.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ ! -d "$bundle" ] && [ -f "$bundle.tar.xz" ]; then
    tar -C "$(dirname "$bundle")" -xJf "$bundle.tar.xz"
fi
needed=(bench_models)
[ "$convs" = 1 ] && needed+=(bench_convs)
[ "$splits" = 1 ] && needed+=(bench_winograd bench_pointwise)
for b in "${needed[@]}"; do
    [ -x "$bundle/$b" ] || {
        echo "cpu-scaling.sh: $bundle/$b missing: build it (scripts/gpu-check.sh --build, or see --help)" >&2
        exit 1
    }
done
mkdir -p "$out"
{
    echo "# cpu-scaling $(date -u +%FT%TZ) threads: $threads"
    uname -a
    nproc
    lscpu | grep -E 'Model name|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|L3' || true
    "$python" -c 'import torch; print("torch", torch.__version__, "threads", torch.get_num_threads())' || echo "no torch"
} 2>&1 | tee "$out/env.txt"

status=0
: >"$out/models.md"
for t in $threads; do
    echo "== $t threads (RAYON_NUM_THREADS=$t, torch threads $t)" | tee -a "$out/models.md"
    limit=()
    [ "$timeout_s" -gt 0 ] && limit=(timeout "$timeout_s")
    if ! RAYON_NUM_THREADS=$t "${limit[@]}" "$bundle/bench_models" --backends flex \
        --torch-threads "$t" --python "$python" --models "$models" --batches 1,5 \
        --ops forward,pullback --repeats 3 --rounds "$rounds" --json "$out/models-$t.json" >>"$out/models.md" 2>>"$out/models.log"; then
        status=1
        echo "bench_models at $t threads: FAIL or timed out (see models.log)" | tee -a "$out/models.md"
    fi
done
t_max=$(printf '%s\n' $threads | sort -n | tail -1)
echo "== $t_max threads (RAYON_NUM_THREADS=$t_max, torch threads $t_max), --profile" | tee "$out/profile.md"
if ! RAYON_NUM_THREADS=$t_max "${limit[@]}" "$bundle/bench_models" --backends flex \
    --torch-threads "$t_max" --python "$python" --models "$models" --batches 5,1 \
    --ops forward,vanilla,pullback --repeats 3 --profile >>"$out/profile.md" 2>&1; then
    status=1
    echo "bench_models --profile: FAIL or timed out" | tee -a "$out/profile.md"
fi
# The same at the largest thread count as before session 9 (--passive-workers: rayon's own
# idling, workers sleep between operations; --mimalloc-purge: mimalloc's default purge delay)
# and as before session 8 (also --main-outside-pool: each parallel operation handed from the
# main thread to the pool), flex only.
for variant in "--no-im2col-split" "--passive-workers --mimalloc-purge" "--passive-workers --mimalloc-purge --main-outside-pool"; do
    name=$(echo "$variant" | tr -d '-' | tr ' ' '_')
    echo "== $t_max threads, flex only, $variant" | tee -a "$out/models.md"
    # shellcheck disable=SC2086 # $variant is one to three flags
    if ! RAYON_NUM_THREADS=$t_max "${limit[@]}" "$bundle/bench_models" --backends flex $variant \
        --no-torch --models "$models" --batches 1,5 --ops forward,pullback --repeats 3 \
        --json "$out/models-$t_max-$name.json" >>"$out/models.md" 2>>"$out/models.log"; then
        status=1
        echo "bench_models $variant: FAIL or timed out (see models.log)" | tee -a "$out/models.md"
    fi
done
grep -E '^==|pullback|forward' "$out/models.md" || true

if [ "$convs" = 1 ]; then
    : >"$out/convs.md"
    for t in $threads; do
        echo "== $t threads" >>"$out/convs.md"
        RAYON_NUM_THREADS=$t "$bundle/bench_convs" --batch 1 >>"$out/convs.md" 2>&1 || status=1
        "$python" tools/bench/convs_torch.py --batch 1 --threads "$t" >>"$out/convs.md" 2>&1 || status=1
    done
    echo "== $t_max threads, batch 5" >>"$out/convs.md"
    RAYON_NUM_THREADS=$t_max "$bundle/bench_convs" --batch 5 >>"$out/convs.md" 2>&1 || status=1
    "$python" tools/bench/convs_torch.py --batch 5 --threads "$t_max" >>"$out/convs.md" 2>&1 || status=1
    cat "$out/convs.md"
fi

if [ "$splits" = 1 ]; then
    {
        echo "== $t_max threads"
        RAYON_NUM_THREADS=$t_max "$bundle/bench_winograd" --batch 5 || status=1
        RAYON_NUM_THREADS=$t_max "$bundle/bench_pointwise" --batch 5 || status=1
        RAYON_NUM_THREADS=$t_max "$bundle/bench_winograd" --batch 5 --repeats 7 --sweep || status=1
    } >"$out/splits.md" 2>&1
    cat "$out/splits.md"
fi
exit $status
