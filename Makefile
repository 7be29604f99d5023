# Two commands from a fresh clone:  make demo   |   make test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU wheel here; on a GPU machine the same pin from PyPI is the CUDA build.
TORCH_SPEC ?= torch==2.13.0
DEMO_DATA := data/demo/final_data.csv
# a tiny BERT + BPE tokenizer standing in for DNABERT-2 in the demo (DNABert2.py --make-tiny-model)
DEMO_TINY_BERT := data/demo/tiny-dnabert2/config.json
# a small randomly initialised Sei in the official sei.pth format + its target.names, so the demo
# runs the real loading code (Preprocess_data_to_numpy.py --make-demo-sei)
DEMO_SEI := data/demo/sei/sei.pth

.PHONY: venv test demo demo-data bench clean-demo

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# pytest exits 5 when it collects no tests; that is not a failure of the suite.
test: venv
	$(PY) -m pytest -q tests; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

demo-data: venv $(DEMO_DATA)

$(DEMO_DATA):
	$(PY) Make_demo_data.py --out data/demo

$(DEMO_TINY_BERT): | $(DEMO_DATA)
	$(PY) DNABert2.py --json json/demo/DNABert2.json --make-tiny-model data/demo/tiny-dnabert2

$(DEMO_SEI): | $(DEMO_DATA)
	$(PY) Preprocess_data_to_numpy.py --make-demo-sei data/demo/sei

demo: venv demo-data $(DEMO_TINY_BERT) $(DEMO_SEI)
	$(PY) Basset.py --json json/demo/Basset.json -n -t -e
	$(PY) ConvNet.py --json json/demo/ConvNet.json -n -t -e
	$(PY) FSei.py --json json/demo/FSei.json -n -p -t -e
	$(PY) Preprocess_data_to_numpy.py --json json/demo/Preprocess.json
	$(PY) DNABert2.py --json json/demo/DNABert2.json -n -t -e
	$(PY) LR.py --json json/demo/LR.json -n -t -e
	$(PY) LGBM.py --json json/demo/LGBM.json --optimize
	$(PY) Plot_importance.py --lr results/demo/LR --lgbm results/demo/LGBM --out results/demo/importance_top20.png
	@echo; echo "results table: results/demo/*/results.csv"; cat results/demo/*/results.csv
	# Integrated Gradients hot spots of the newest demo Basset run, scanned with JASPAR 2024
	$(PY) Attribute.py --json json/demo/Attribute.json -i -b --force \
	    -m $$(ls -t results/demo/Basset/*/best.pt | head -1)
	@echo; head -n 32 $$(dirname $$(ls -t results/demo/Basset/*/best.pt | head -1))/IG/nsites.txt

bench: venv
	$(PY) bench/bench_encoding.py
	$(PY) bench/bench_features.py
	$(PY) bench/bench_tokenize.py
	$(PY) bench/bench_scanning.py
	$(PY) bench/bench_sei.py

clean-demo:
	rm -rf data/demo results/demo
