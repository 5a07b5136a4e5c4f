# Entry points: `make demo`, `make test` and `make zoo` (long: retrains the reference
# checkpoints). All three build .venv from the project's own files on first use.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# Tests and the demo write nothing outside their own folders.
export MPLCONFIGDIR ?= $(CURDIR)/.venv/cache/matplotlib
export YOLO_CONFIG_DIR ?= $(CURDIR)/.venv/cache/ultralytics
export TORCH_HOME ?= $(CURDIR)/.venv/cache/torch
export YOLO_OFFLINE := 1

DEMO_OUT ?= demo-output

ZOO_WORK ?= zoo-work

.PHONY: demo test zoo venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24" wheel
	# compressai's metadata pins numpy<2, which the rest of the stack cannot use; its code runs on numpy 2.
	$(PIP) install --quiet -c constraints.txt --no-deps compressai==1.2.8
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	$(PY) -c "import torch, torchvision, compressai, cityscapesscripts.helpers.labels; print('installed torch', torch.__version__)"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/semcom-bench demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest

# About 85 minutes on 2 CPU cores (two 1-thread runs side by side); resumes from $(ZOO_WORK). Each entry is exported
# into semcom_bench/zoo/checkpoints with its manifest as soon as it is trained.
zoo: $(STAMP)
	$(VENV)/bin/semcom-bench zoo data --work $(ZOO_WORK)
	OMP_NUM_THREADS=1 $(VENV)/bin/semcom-bench zoo train --work $(ZOO_WORK) ntscc-l64 saoosc ntscc-l16 ntscc-l256 saoosc-pred & pid=$$!; \
	OMP_NUM_THREADS=1 $(VENV)/bin/semcom-bench zoo train --work $(ZOO_WORK) deepjscc-1of16 oosc inscom dlm-16 deepjscc-1of24 deepjscc-1of8 lightweight-g0 lightweight-g0.5 lightweight-g0.7; \
	b=$$?; wait $$pid; a=$$?; test $$a -eq 0 -a $$b -eq 0  # either queue failing fails the target
	$(VENV)/bin/semcom-bench zoo list

clean:
	rm -rf $(VENV) $(DEMO_OUT)
