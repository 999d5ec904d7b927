"""Our proto/caffe.proto: the committed caffe_pb2.py is what grpcio-tools makes of it, and spot
checks of Caffe's field numbers and defaults, which binary .caffemodel files depend on."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from blobcalc import caffe_pb2

PROJECT = Path(__file__).resolve().parent.parent


def test_generated_module_is_up_to_date(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROJECT / 'proto'}",
                    f"--python_out={tmp_path}", str(PROJECT / "proto" / "caffe.proto")], check=True)
    fresh = (tmp_path / "caffe_pb2.py").read_text()
    committed = (PROJECT / "blobcalc" / "caffe_pb2.py").read_text()
    assert fresh == committed, "blobcalc/caffe_pb2.py is stale: run `make proto` and commit it"


@pytest.mark.parametrize(("message", "field", "number", "default"), [
    ("NetParameter", "layer", 100, None),
    ("NetParameter", "layers", 2, None),
    ("NetParameter", "input_dim", 4, None),
    ("LayerParameter", "convolution_param", 106, None),
    ("LayerParameter", "batch_norm_param", 139, None),
    ("LayerParameter", "clip_param", 148, None),
    ("LayerParameter", "swish_param", 147, None),
    ("ConvolutionParameter", "bias_term", 2, True),
    ("ConvolutionParameter", "group", 5, 1),
    ("ConvolutionParameter", "axis", 16, 1),
    ("PoolingParameter", "round_mode", 13, 0),
    ("PoolingParameter", "stride", 3, 1),
    ("ConcatParameter", "axis", 2, 1),
    ("ConcatParameter", "concat_dim", 1, 1),
    ("LRNParameter", "local_size", 1, 5),
    ("ReshapeParameter", "num_axes", 3, -1),
    ("FlattenParameter", "end_axis", 2, -1),
    ("CropParameter", "axis", 1, 2),
    ("BatchNormParameter", "eps", 3, pytest.approx(1e-5)),
    ("SolverParameter", "type", 40, "SGD"),
    ("SolverParameter", "momentum2", 39, pytest.approx(0.999)),
    ("V1LayerParameter", "blobs_lr", 7, None),
    ("V0LayerParameter", "kernelsize", 8, None),
    ("BlobProto", "double_data", 8, None),
])
def test_caffe_field_numbers_and_defaults(message: str, field: str, number: int, default: object) -> None:
    descriptor = getattr(caffe_pb2, message).DESCRIPTOR.fields_by_name[field]
    assert descriptor.number == number
    if default is not None:
        assert descriptor.default_value == default


def test_v1_layer_type_enum() -> None:
    enum = caffe_pb2.V1LayerParameter.LayerType
    assert enum.Value("CONVOLUTION") == 4
    assert enum.Value("ABSVAL") == 35
    assert enum.Value("DECONVOLUTION") == 39
    assert enum.Value("THRESHOLD") == 31
