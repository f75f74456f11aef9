# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_MINUTES ?= 3
# one pytest worker per core (each test file stays in one worker, so its fixtures are built once)
TEST_WORKERS ?= auto
# The multi-process tests run after, alone: sharing two cores with another worker, a rank of
# `--nproc 2` died once in two suites at exit ("terminate called without an active exception").
ALONE_TESTS := tests/test_distributed.py

.PHONY: demo test browser lint bench clean

# torch==2.13.0 is pinned only where no torch is installed: it is the CPU build on
# this kind of machine, while an open range would pull several GB of CUDA packages.
$(BIN)/rnnkit: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: $(BIN)/rnnkit
	@run=runs/demo-$$(date +%Y%m%d-%H%M%S); set -e; \
	$(BIN)/rnnkit train lm python-stdlib --minutes $(DEMO_MINUTES) --out $$run; \
	echo; echo "two more samples at temperature 0.7:"; \
	$(BIN)/rnnkit sample $$run --num 2 --length 300 --temperature 0.7 --seed 1

# The browser test drives Debian's Chromium; install it where we may (root with apt-get).
# Elsewhere, or if the install fails, that one test skips and says why.
CHROMIUM_PACKAGES := chromium chromium-driver
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(CHROMIUM_PACKAGES) for the browser test"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    { apt-get install -y -qq $(CHROMIUM_PACKAGES) || { apt-get update -qq && \
	      apt-get install -y -qq $(CHROMIUM_PACKAGES); }; } >/dev/null 2>&1 \
	    || echo "could not install Chromium: the browser test will skip"; \
	  else echo "no Chromium, and no root apt-get to install it: the browser test will skip"; fi; \
	fi

test: $(BIN)/rnnkit browser
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --ignore $(ALONE_TESTS)
	$(BIN)/python -m pytest -q $(ALONE_TESTS)

bench: $(BIN)/rnnkit
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/sample_speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
