#!/usr/bin/env bash
# GPU check for crates/excitation (issue 3, item 6): PyTorch parity and the benchmark on the
# `wgpu` backend, with PyTorch's CUDA timings beside it, in one call.
#
# Two steps, on two machines:
#
#   1. On a machine with Rust (and the network, for crates), build the bundle:
#          scripts/gpu-check.sh --build   # -> target/gpu-bundle/{parity,bench_models,bench_convs,bench_winograd,bench_pointwise}
#      (release binaries with `--features wgpu`; a separate CARGO_TARGET_DIR is respected),
#      also packed as target/gpu-bundle.tar.xz (the stripped wgpu binaries are 2 x 105 MB,
#      the archive 24 MB, so it fits a 64 MiB transfer limit such as the device tool's
#      `carry`).
#
#   2. On the GPU machine (torch + torchvision, no network, no Rust), from the repository root
#      with target/gpu-bundle/ copied over:
#          scripts/gpu-check.sh [--out DIR] [--python python3] [--quick]
#      (if only target/gpu-bundle.tar.xz was copied, it is unpacked first).
#      runs the parity tests on wgpu (fixtures from crates/excitation/tests/fixtures/), then
#      bench_models --backends wgpu --torch-device cuda. Logs and JSON go to --out
#      (default ./gpu-check-out).
#
#   Testing the script without a GPU: `--cpu` runs the same steps on the flex backend and
#   PyTorch's CPU (binaries built without wgpu are enough: `--build --cpu`).
#
# Options: --build  --cpu  --quick (ResNet50 only, batch 1, 1 repeat)  --out DIR
#          --python PATH  --bundle DIR (default target/gpu-bundle)  --no-bench  --no-parity
#          --parity-timeout S  --bench-timeout S (stop the parity tests, or each model's
#          benchmark, after S seconds; default no limit: for leases with a time budget)
#          --parity-filter a,b (test-name filters; default matches_pytorch, all seven parity
#          tests)  --models a,b (benchmark only these; default all three)
# Output in --out: env.txt, parity.log, bench.md (one table per model), bench.log (progress),
#          bench-MODEL.json.
set -euo pipefail
cd "$(dirname "$0")/.."

build=0 cpu=0 quick=0 bench=1 parity=1 parity_timeout=0 bench_timeout=0
parity_filters=(matches_pytorch)
models=(resnet50 vgg11_bn densenet121)
out=gpu-check-out
python=${PYTHON:-python3}
bundle=target/gpu-bundle
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=1 ;;
        --cpu) cpu=1 ;;
        --quick) quick=1 ;;
        --no-bench) bench=0 ;;
        --no-parity) parity=0 ;;
        --out) out=$2; shift ;;
        --parity-timeout) parity_timeout=$2; shift ;;
        --parity-filter) IFS=, read -r -a parity_filters <<<"$2"; shift ;;
        --models) IFS=, read -r -a models <<<"$2"; shift ;;
        --bench-timeout) bench_timeout=$2; shift ;;
        --python) python=$2; shift ;;
        --bundle) bundle=$2; shift ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "gpu-check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$build" = 1 ]; then
    features=(--features wgpu)
    [ "$cpu" = 1 ] && features=()
    target=${CARGO_TARGET_DIR:-target}
    cargo build --release -p excitation "${features[@]}" --example bench_models --example bench_convs \
        --example bench_winograd --example bench_pointwise
    # The parity test executable: ask cargo for its path.
    exe=$(cargo test --release -p excitation "${features[@]}" --test parity --no-run --message-format=json \
        | "$python" -c 'import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "parity" and m.get("executable"):
        print(m["executable"])' | tail -1)
    [ -n "$exe" ] || { echo "gpu-check.sh: could not find the parity test executable" >&2; exit 1; }
    mkdir -p "$bundle"
    cp "$target/release/examples/bench_models" "$bundle/bench_models"
    # (bench_convs, bench_winograd, bench_pointwise: flex only, for scripts/cpu-scaling.sh on
    # the same machine)
    for b in bench_convs bench_winograd bench_pointwise; do
        cp "$target/release/examples/$b" "$bundle/$b"
    done
    cp "$exe" "$bundle/parity"
    strip "$bundle"/bench_* "$bundle/parity" 2>/dev/null || true
    # A 256 MiB dictionary lets xz share the code the binaries have in common
    # (wgpu build: 2 x 105 MB -> 24 MB, against 36 MB with the default dictionary).
    tar -C "$(dirname "$bundle")" -cf - "$(basename "$bundle")" \
        | xz -T1 --lzma2=preset=6,dict=256MiB >"$bundle.tar.xz"
    ls -la "$bundle" "$bundle.tar.xz"
    exit 0
fi

mkdir -p "$out"
if [ ! -d "$bundle" ] && [ -f "$bundle.tar.xz" ]; then
    tar -C "$(dirname "$bundle")" -xJf "$bundle.tar.xz"
fi
for b in parity bench_models; do
    [ -x "$bundle/$b" ] || { echo "gpu-check.sh: $bundle/$b missing: build it with scripts/gpu-check.sh --build" >&2; exit 1; }
done

if [ "$cpu" = 1 ]; then
    backend=flex torch_device=cpu
else
    backend=wgpu torch_device=cuda
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# Containers with NVIDIA's driver mounted under /usr/local/nvidia keep the Vulkan ICD there,
# where the loader does not look by itself (the device machines' README).
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ "$cpu" = 0 ] && [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ]; then
    export VK_DRIVER_FILES=$nvidia_icd
fi
{
    echo "# gpu-check $(date -u +%FT%TZ) backend=$backend torch_device=$torch_device"
    uname -a
    nproc
    echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
    # (no `grep -m1`: under pipefail, ldconfig's SIGPIPE would also print the "no libvulkan" line)
    vulkan=$(ldconfig -p | grep libvulkan || true)
    echo "${vulkan:-no libvulkan: wgpu will find no adapter; carry the loader and GL vendor libraries (.gl/: libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2, docs/performance.md "GPU")}"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"
    "$python" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' || echo "no torch"
} 2>&1 | tee "$out/env.txt"

# `limited S cmd...`: run cmd, stopped after S seconds when S > 0 (0: no limit).
limited() {
    local s=$1; shift
    if [ "$s" -gt 0 ]; then timeout "$s" "$@"; else "$@"; fi
}

status=0
if [ "$parity" = 1 ]; then
    echo "== parity on $backend (fixtures: crates/excitation/tests/fixtures)" | tee "$out/parity.log"
    # All parity tests on the chosen backend (the tiny models' ndarray runs are replaced too).
    # cubecl's least autotuning for the parity tests (any candidate kernel must give the same
    # values; on an H100 the default tuning made ResNet50's first gradient take ~1 min of
    # compiling, docs/performance.md "GPU"); the benchmark keeps the default.
    if CUBECL_AUTOTUNE_LEVEL=${CUBECL_AUTOTUNE_LEVEL:-minimal} \
        CURTAIN_FIXTURES="$PWD/crates/excitation/tests/fixtures" CURTAIN_PARITY_BACKENDS=$backend \
        limited "$parity_timeout" "$bundle/parity" "${parity_filters[@]}" --test-threads 1 --nocapture >>"$out/parity.log" 2>&1; then
        echo "parity: PASS" | tee -a "$out/parity.log"
    else
        status=1
        echo "parity: FAIL (see $out/parity.log)" | tee -a "$out/parity.log"
    fi
    grep -E "rel err|test result|panicked" "$out/parity.log" | tail -60 || true
fi

if [ "$bench" = 1 ]; then
    # One bench_models run per model (PyTorch's side included), so that the models already
    # measured keep their table and JSON when a later one runs out of time.
    args=(--backends "$backend" --python "$python" --torch-device "$torch_device")
    if [ "$quick" = 1 ]; then models=(resnet50); args+=(--batches 1 --repeats 1); fi
    echo "== benchmark: bench_models ${args[*]} --models {${models[*]}}" >"$out/bench.md"
    : >"$out/bench.log"
    for m in "${models[@]}"; do
        if limited "$bench_timeout" "$bundle/bench_models" "${args[@]}" --models "$m" --json "$out/bench-$m.json" \
            >>"$out/bench.md" 2>>"$out/bench.log"; then
            :
        else
            status=1
            echo "benchmark of $m: FAIL (see bench.log)" | tee -a "$out/bench.md"
            tail -20 "$out/bench.log"
        fi
    done
    cat "$out/bench.md"
fi
exit $status
