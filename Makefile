# Two entry points: `make demo` and `make test`. Both build .venv from the project's own files on first use.
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

.PHONY: demo test venv clean

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

clean:
	rm -rf $(VENV) $(DEMO_OUT)
