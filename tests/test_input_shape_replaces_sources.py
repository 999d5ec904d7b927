"""--input-shape replaces any source layer (a layer with no bottoms) by an Input layer: a fork's data layer
of a later release (SSD's VideoData, with its video_data_param), a Python data layer we have no rule for,
and a data layer of a fork we do not know at all."""
from __future__ import annotations

from pathlib import Path

import pytest

from blobcalc import analyze
from blobcalc.cli import main
from blobcalc.errors import UsageError
from tests.golden_support import CORPUS

DEPLOY = CORPUS / "chuanqi305__MobileNet-SSD/deploy.prototxt"
HEADER = 'name: "MobileNet-SSD"\ninput: "data"\ninput_shape {\n  dim: 1\n  dim: 3\n  dim: 300\n  dim: 300\n}\n'

# The data layers, as SSD's webcam demo (examples/ssd/ssd_pascal_webcam.py), a project's own Python data
# layer and an unknown fork write them.
SOURCES = {
    "VideoData": 'layer { name: "data" type: "VideoData" top: "data"\n'
                 '  transform_param { mean_value: 127.5 mean_value: 127.5 mean_value: 127.5 }\n'
                 '  data_param { batch_size: 1 }\n'
                 '  video_data_param { video_type: WEBCAM device_id: 0 } }\n',
    "Python:my_layers.FrameLayer": 'layer { name: "data" type: "Python" top: "data"\n'
                                   '  python_param { module: "my_layers" layer: "FrameLayer" } }\n',
    "SomeForkData": 'layer { name: "data" type: "SomeForkData" top: "data" }\n',
}


def net_with_source(tmp_path: Path, kind: str) -> Path:
    if not DEPLOY.exists():
        pytest.fail("../shared/corpus is not beside this checkout")
    text = DEPLOY.read_text()
    assert text.startswith(HEADER)
    path = tmp_path / "net.prototxt"
    path.write_text('name: "MobileNet-SSD"\n' + SOURCES[kind] + text[len(HEADER):])
    return path


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_input_shape_replaces_any_source_layer(tmp_path: Path, kind: str) -> None:
    net = net_with_source(tmp_path, kind)
    reference = analyze(str(DEPLOY))
    unknown = analyze(str(net))
    assert unknown.partial  # no rule says what a webcam frame or an unknown layer gives
    given = analyze(str(net), input_shapes={"data": (1, 3, 300, 300)})
    assert not given.partial
    first = given.layers[0]
    assert (first.type, first.replaced_type, first.top_shapes) == ("Input", kind, ((1, 3, 300, 300),))
    assert f"{kind} layer replaced by an Input layer of the given shapes" in first.notes
    assert given.param_count == reference.param_count
    assert [layer.top_shapes for layer in given.layers[1:]] == [layer.top_shapes for layer in reference.layers[1:]]
    at_8 = analyze(str(net), input_shapes={"data": (1, 3, 300, 300)}, batch=8)
    assert at_8.layers[0].top_shapes == ((8, 3, 300, 300),)


def test_video_data_is_a_fork_field_of_a_later_ssd_release(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    net = net_with_source(tmp_path, "VideoData")
    assert "LayerParameter.video_data_param (SSD fork (weiliu89/caffe))" in analyze(str(net)).fork_fields
    assert main(["analyze", str(net), "--input-shape", "data=1,3,300,300", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "Input<-VideoData" in out
    assert "notice: LayerParameter.video_data_param (SSD fork (weiliu89/caffe)) is not in BVLC Caffe's schema" in out


def test_input_shape_still_refuses_a_layer_with_bottoms() -> None:
    with pytest.raises(UsageError, match="not a top of an input or data layer"):
        analyze(str(DEPLOY), input_shapes={"conv0": (1, 32, 150, 150)})


def test_fields_of_mobilenet_yolo_later_releases_read_back_from_binary() -> None:
    """eric612/MobileNet-YOLO's master numbers AnnotatedDataParameter's extensions 6-10: a binary
    message written by that fork (field 8 = seg_scales, 9/10 = the resize) reads back by name."""
    from blobcalc import caffe_pb2

    def varint_field(number: int, value: int) -> bytes:
        return bytes([number << 3, value])

    written = varint_field(6, 1) + varint_field(8, 4) + varint_field(9, 80) + varint_field(10, 40)
    read = caffe_pb2.AnnotatedDataParameter.FromString(written)
    assert (read.train_diffcult, read.seg_scales, read.seg_resize_width, read.seg_resize_height) == (True, 4, 80, 40)
