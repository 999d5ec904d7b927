# blobcalc developer commands. `make run` installs and analyzes the bundled example net.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
EXAMPLE ?= blobcalc/examples/lenet.prototxt

.PHONY: install run test lint proto golden bench

install:
	$(PIP) install --quiet -e '.[dev]'

run: install
	blobcalc analyze $(EXAMPLE)

test: install
	$(PYTHON) -m pytest

lint: install
	$(PYTHON) -m ruff check blobcalc tests
	$(PYTHON) -m mypy blobcalc

# Regenerate blobcalc/caffe_pb2.py from proto/caffe.proto (never edit the generated file).
proto:
	$(PYTHON) -m grpc_tools.protoc -Iproto --python_out=blobcalc proto/caffe.proto

# Compare every corpus net with what real Caffe computed (../shared/golden).
golden: install
	$(PYTHON) ../shared/tools/golden_check.py
