# Two commands from a fresh clone:  make demo   |   make test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU wheel here; on a GPU machine the same pin from PyPI is the CUDA build.
TORCH_SPEC ?= torch==2.13.0
DEMO_DATA := data/demo/final_data.csv
# make paper SEEDS=5: every trained model with 5 seeds, mean +- SD and paired tests
SEEDS ?= 1

.PHONY: venv browser test test-fast demo paper demo-data bench bench-gpu bench-demo clean-demo

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# The report's browser test (tests/test_report.py) opens report.html in a headless Chromium.
# Find one, or install Debian's where we may (root with apt-get). Never fails: without a
# browser that one test is skipped, and says why.
browser: venv
	@$(PY) -c "import sys; from src.report.browser import find_chromium; sys.exit(find_chromium() is None)" && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium for the report's browser test (apt-get, about 120 MB)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; } \
	    || echo "note: could not install chromium; the report's browser test will be skipped"; \
	else \
	  echo "note: no Chromium found; the report's browser test will be skipped (install chromium, or set CHROMIUM=/path/to/chrome)"; \
	fi

# The full suite (what CI runs). pytest exits 5 when it collects no tests: not a failure.
test: venv browser
	$(PY) -m pytest -q tests; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

# The quick loop while editing: the suite without the tests marked slow or distributed, spread
# over up to 4 processes (pytest-xdist).
test-fast: venv
	$(PY) -m pytest -q -n auto --maxprocesses 4 -m "not slow and not distributed" tests

demo-data: venv $(DEMO_DATA)

$(DEMO_DATA):
	$(PY) Make_demo_data.py --out data/demo

# The study end to end (Reproduce.py, one list of steps in src/pipeline.py): the demo writes its
# inputs (data, a demo Sei trained on synthetic profiles, a tiny DNABERT-2 stand-in) and runs on
# the CPU in minutes; the paper needs data/, sei.pth, target.names and DNABERT-2 (see README).
# Steps whose outputs exist are skipped: run it again to continue after an interruption.
demo: venv
	$(PY) Reproduce.py --config demo --seeds $(SEEDS)

paper: venv
	$(PY) Reproduce.py --config paper --seeds $(SEEDS)

bench: venv
	$(PY) bench/bench_encoding.py
	$(PY) bench/bench_features.py
	$(PY) bench/bench_tokenize.py
	$(PY) bench/bench_scanning.py
	$(PY) bench/bench_denovo.py synthetic 18000
	$(PY) bench/bench_sei.py
	$(PY) bench/bench_dnabert2.py $(if $(DNABERT2_CODE),--remote-code $(DNABERT2_CODE))
	$(PY) bench/bench_predict.py

# The GPU path in one run (bench/RESULTS.md is updated); without CUDA it says so and exits 0.
bench-gpu: venv
	$(PY) bench/gpu.py

# make demo from scratch, step by step: wall and CPU seconds of each step
bench-demo: venv
	$(PY) bench/bench_demo.py --clean --seeds $(SEEDS)

clean-demo:
	rm -rf data/demo results/demo
