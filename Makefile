# Two commands from a fresh clone:  make demo   |   make test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU wheel here; on a GPU machine the same pin from PyPI is the CUDA build.
TORCH_SPEC ?= torch==2.13.0
DEMO_DATA := data/demo/final_data.csv
# make paper SEEDS=5: every trained model with 5 seeds, mean +- SD and paired tests
SEEDS ?= 1

.PHONY: venv test test-fast demo paper demo-data bench bench-gpu bench-demo clean-demo

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# The full suite (what CI runs). pytest exits 5 when it collects no tests: not a failure.
test: venv
	$(PY) -m pytest -q tests; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

# The quick loop while editing: the suite without the tests marked slow or distributed.
test-fast: venv
	$(PY) -m pytest -q -m "not slow and not distributed" tests

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
	$(PY) bench/bench_sei.py

# The GPU path in one run (bench/RESULTS.md is updated); without CUDA it says so and exits 0.
bench-gpu: venv
	$(PY) bench/gpu.py

# make demo from scratch, step by step: wall and CPU seconds of each step
bench-demo: venv
	$(PY) bench/bench_demo.py --clean --seeds $(SEEDS)

clean-demo:
	rm -rf data/demo results/demo
