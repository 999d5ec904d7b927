# blobcalc developer commands. `make run` installs and analyzes the bundled example net.
#
# Everything runs in a virtual environment of the project, $(VENV), created on first use with the
# system's python3: Debian's and Ubuntu's system Python is "externally managed" (PEP 668) and refuses
# `pip install`. `make test PYTHON=/path/to/python` uses that interpreter (and its environment) instead.
VENV ?= .venv
SYSTEM_PYTHON ?= python3
ifeq ($(origin PYTHON),undefined)
PYTHON := $(VENV)/bin/python
PYTHON_READY := $(VENV)/bin/python
endif
PIP ?= $(PYTHON) -m pip
EXAMPLE ?= blobcalc/examples/lenet.prototxt

.PHONY: install run test lint proto golden bench browser-deps bench-large fuzz fuzz-weights

$(VENV)/bin/python:
	@$(SYSTEM_PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "make: cannot create the virtual environment $(VENV) with $(SYSTEM_PYTHON) -m venv;" \
		     "on Debian/Ubuntu install it with: sudo apt-get install python3-venv" >&2; exit 1; }
	@echo "make: created the virtual environment $(VENV) (blobcalc and its tools are installed there)"

install: $(PYTHON_READY)
	$(PIP) install --quiet -e '.[dev]'

run: install
	$(PYTHON) -m blobcalc analyze $(EXAMPLE)

# The browser test (tests/test_browser.py) needs Chromium, chromedriver and Graphviz: without them it is
# skipped, and said so loudly here and at the end of the run (`make browser-deps` installs them).
test: install
	@missing=""; for program in $(BROWSER_PROGRAMS); do \
		command -v $$program >/dev/null 2>&1 || missing="$$missing $$program"; done; \
	if [ -n "$$missing" ]; then echo "make test: WARNING: missing$$missing: the browser test will be" \
		"SKIPPED; run 'make browser-deps' (Debian packages, needs sudo) to run it" >&2; fi
	$(PYTHON) -m pytest

lint: install
	$(PYTHON) -m ruff check blobcalc tests docs
	$(PYTHON) -m mypy blobcalc

# Regenerate blobcalc/caffe_pb2.py from proto/caffe.proto (never edit the generated file).
proto:
	$(PYTHON) -m grpc_tools.protoc -Iproto --python_out=blobcalc proto/caffe.proto

# Compare every corpus net with what real Caffe computed (../shared/golden).
golden: install
	$(PYTHON) ../shared/tools/golden_check.py

# Wall time of `blobcalc scan` over the corpus, next to parsing alone (text_format and our fast reader).
bench: install
	$(PYTHON) benchmarks/bench_scan.py ../shared/corpus
	$(PYTHON) benchmarks/bench_audit.py

# What tests/test_browser.py needs (required in CI): headless Chromium, its driver and Graphviz, from
# Debian's packages, installed only when missing (selenium comes with the dev extras). Needs root or sudo.
BROWSER_PROGRAMS ?= chromium chromedriver dot
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-deps:
	@missing=""; for program in $(BROWSER_PROGRAMS); do \
		command -v $$program >/dev/null 2>&1 || missing="$$missing $$program"; done; \
	if [ -n "$$missing" ]; then \
		echo "browser-deps: installing Debian packages for:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			chromium chromium-driver graphviz; \
	else echo "browser-deps: chromium, chromedriver and dot are installed"; fi

# Analysis time and peak memory on generated nets of 1,000 / 10,000 / 100,000 layers (linear scaling).
bench-large:
	$(PYTHON) benchmarks/bench_large_net.py

# A long mutation-fuzzing campaign over the corpus; failing inputs are saved under fuzz-failures/.
FUZZ_COUNT ?= 100000
FUZZ_JOBS ?= 2
FUZZ_SEED ?= 1
fuzz:
	$(PYTHON) -m tests.fuzz_mutations --count $(FUZZ_COUNT) --jobs $(FUZZ_JOBS) --seed $(FUZZ_SEED)

# A structure-aware .caffemodel campaign (weights built from the corpus nets, mutated at the wire level,
# each audited and scanned); failing inputs are saved under fuzz-failures/.
FUZZ_WEIGHTS_COUNT ?= 20000
fuzz-weights:
	$(PYTHON) -m tests.fuzz_weights --count $(FUZZ_WEIGHTS_COUNT) --jobs $(FUZZ_JOBS) --seed $(FUZZ_SEED)
