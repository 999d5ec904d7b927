"""Python layers by rule (forks/python_layers.py): what each well-known module's setup()/reshape()
give at net construction, param_str read without evaluating code, modules never imported, and
py-faster-rcnn's nets from the corpus end to end."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from google.protobuf import text_format

from blobcalc import analyze, caffe_pb2
from blobcalc.errors import ShapeError
from blobcalc.param_str import ParamStrError, read_literal_param_str, read_yaml_param_str
from blobcalc.shapes.forks.python_layers import ENET, FCN, PY_FASTER_RCNN
from blobcalc.shapes.registry import (
    LayerContext,
    LayerShapes,
    RuleCheckFailed,
    Shape,
    ShapeUnknown,
    rule_for_layer,
)
from tests.golden_support import CORPUS


def python_layer(module: str, layer: str, param_str: str = "", bottoms: int = 0, tops: int = 1) -> str:
    bottom_lines = " ".join(f'bottom: "b{i}"' for i in range(bottoms))
    top_lines = " ".join(f'top: "t{i}"' for i in range(tops))
    return (f'name: "py" type: "Python" {bottom_lines} {top_lines} python_param {{ module: "{module}" '
            f'layer: "{layer}" param_str: {param_str!r} }}')


def run(text: str, bottoms: list[Shape] | None = None, phase: int = caffe_pb2.TRAIN) -> LayerShapes:
    layer = text_format.Parse(text, caffe_pb2.LayerParameter())
    rule = rule_for_layer(layer)
    assert rule is not None, f"no rule for {layer.python_param.module}.{layer.python_param.layer}"
    context = LayerContext(layer, tuple(bottoms or ()), phase, len(layer.top))
    return rule.compute(context)


# ---------------------------------------------------------------------------------------------
# param_str

@pytest.mark.parametrize(("text", "expected"), [
    # py-faster-rcnn's YAML strings as the corpus writes them.
    ("'feat_stride': 16", {"feat_stride": 16}),
    ("'num_classes': 21", {"num_classes": 21}),
    ("{'feat_stride': 16, 'scales': [2, 4, 8, 16, 32]}", {"feat_stride": 16, "scales": [2, 4, 8, 16, 32]}),
    # py-faster-rcnn's COCO nets (models/coco/*/faster_rcnn_end2end): a tuple tag of the old yaml.load.
    ("'feat_stride': 16 \n'scales': !!python/tuple [4, 8, 16, 32]", {"feat_stride": 16, "scales": (4, 8, 16, 32)}),
    # YAML block style with bare keys.
    ("feat_stride: 16\nscales: [8, 16]\nname: rpn", {"feat_stride": 16, "scales": [8, 16], "name": "rpn"}),
    ("", {}),
])
def test_yaml_param_str(text: str, expected: dict[str, object]) -> None:
    assert read_yaml_param_str(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # FCN's eval()'d dictionaries, tuples included.
    ("{'sbdd_dir': '../data/sbdd/dataset', 'seed': 1337, 'split': 'train', 'mean': (104.0, 116.6)}",
     {"sbdd_dir": "../data/sbdd/dataset", "seed": 1337, "split": "train", "mean": (104.0, 116.6)}),
    ("{'phase': 'TRAIN', 'p': '0.1'}", {"phase": "TRAIN", "p": "0.1"}),
])
def test_literal_param_str(text: str, expected: dict[str, object]) -> None:
    assert read_literal_param_str(text) == expected


@pytest.mark.parametrize(("reader", "text"), [
    (read_literal_param_str, "__import__('os').system('touch /tmp/blobcalc-param-str')"),
    (read_literal_param_str, "dict(feat_stride=16)"),
    (read_literal_param_str, "'feat_stride': 16"),  # eval() refuses this too
    (read_literal_param_str, "[1, 2]"),
    (read_yaml_param_str, "!!python/object/apply:os.system ['touch /tmp/blobcalc-param-str']"),
    (read_yaml_param_str, "'a': !!python/name:os.system"),
    (read_yaml_param_str, "'a': !!python/object:collections.OrderedDict {}"),
    (read_yaml_param_str, "not a mapping at all"),
    (read_yaml_param_str, "{'a': [1, 2"),
    (read_yaml_param_str, "[" * 5000 + "]" * 5000),
    (read_literal_param_str, "x" * 20_000),
    (read_yaml_param_str, "x" * 20_000),
])
def test_param_str_never_evaluates_code(reader: object, text: str) -> None:
    assert callable(reader)
    with pytest.raises(ParamStrError):
        reader(text)
    assert not Path("/tmp/blobcalc-param-str").exists()


# ---------------------------------------------------------------------------------------------
# py-faster-rcnn

def test_rule_origins_and_sources() -> None:
    for module, layer, origin, source in [
        ("rpn.proposal_layer", "ProposalLayer", PY_FASTER_RCNN, False),
        ("rpn.anchor_target_layer", "AnchorTargetLayer", PY_FASTER_RCNN, False),
        ("rpn.proposal_target_layer", "ProposalTargetLayer", PY_FASTER_RCNN, False),
        ("roi_data_layer.layer", "RoIDataLayer", PY_FASTER_RCNN, True),
        ("voc_layers", "VOCSegDataLayer", FCN, True),
        ("voc_layers", "SBDDSegDataLayer", FCN, True),
        ("nyud_layers", "NYUDSegDataLayer", FCN, True),
        ("pascalcontext_layers", "PASCALContextSegDataLayer", FCN, True),
        ("siftflow_layers", "SIFTFlowSegDataLayer", FCN, True),
        ("spatial_dropout", "SpatialDropoutLayer", ENET, False),
    ]:
        parsed = text_format.Parse(python_layer(module, layer), caffe_pb2.LayerParameter())
        rule = rule_for_layer(parsed)
        assert rule is not None and rule.origin == origin and rule.source == source, (module, layer)


@pytest.mark.parametrize(("tops", "phase", "expected", "note"), [
    (1, caffe_pb2.TEST, [(1, 5)], "RPN_POST_NMS_TOP_N = 300"),
    (2, caffe_pb2.TRAIN, [(1, 5), (1, 1, 1, 1)], "RPN_POST_NMS_TOP_N = 2000"),
])
def test_proposal_layer(tops: int, phase: int, expected: list[Shape], note: str) -> None:
    bottoms = [(1, 18, 14, 14), (1, 36, 14, 14), (1, 3)]
    shapes = run(python_layer("rpn.proposal_layer", "ProposalLayer", "'feat_stride': 16", 3, tops),
                 bottoms, phase)
    assert list(shapes.top_shapes) == expected
    assert note in shapes.notes[0]


def test_proposal_layer_needs_feat_stride() -> None:
    with pytest.raises(RuleCheckFailed, match="KeyError: 'feat_stride'"):
        run(python_layer("rpn.proposal_layer", "ProposalLayer", "'scales': [8]", 3), [(1, 18, 4, 4)] * 3)


@pytest.mark.parametrize(("param_str", "height_width", "anchors"), [
    # Default 3 ratios x 3 scales on VGG16's 38x63 map of a 600x1000 image.
    ("'feat_stride': 16", (38, 63), 9),
    ("{'feat_stride': 16, 'scales': [2, 4, 8, 16, 32]}", (38, 63), 15),
    # pva-faster-rcnn's 5 ratios x 5 scales.
    ("{'feat_stride': 16, 'scales': [3, 6, 9, 16, 32], 'ratios': [0.5, 0.667, 1.0, 1.5, 2.0]}", (24, 40), 25),
])
def test_anchor_target_layer(param_str: str, height_width: tuple[int, int], anchors: int) -> None:
    height, width = height_width
    bottoms = [(1, 2 * anchors, height, width), (1, 4), (1, 3), (1, 3, 16 * height, 16 * width)]
    shapes = run(python_layer("rpn.anchor_target_layer", "AnchorTargetLayer", param_str, 4, 4), bottoms)
    targets = (1, 4 * anchors, height, width)
    assert list(shapes.top_shapes) == [(1, 1, anchors * height, width), targets, targets, targets]


def test_anchor_target_layer_needs_four_tops() -> None:
    with pytest.raises(RuleCheckFailed, match="four tops"):
        run(python_layer("rpn.anchor_target_layer", "AnchorTargetLayer", "'feat_stride': 16", 4, 3),
            [(1, 18, 4, 4)] * 4)


def test_proposal_target_layer() -> None:
    shapes = run(python_layer("rpn.proposal_target_layer", "ProposalTargetLayer", "'num_classes': 21", 2, 5),
                 [(1, 5), (1, 4)])
    assert list(shapes.top_shapes) == [(1, 5), (1, 1), (1, 84), (1, 84), (1, 84)]
    assert any("py-R-FCN" in note for note in shapes.notes)
    with pytest.raises(RuleCheckFailed, match="num_classes must be a positive integer"):
        run(python_layer("rpn.proposal_target_layer", "ProposalTargetLayer", "'num_classes': 'x'", 2, 5),
            [(1, 5), (1, 4)])


def test_proposal_target_layer_of_py_rfcn_is_4d() -> None:
    """In a net that R-FCN's Caffe builds (a layer type only that fork registers), the module is
    py-R-FCN's copy, whose setup() shapes every top 4-D."""
    layer = text_format.Parse(python_layer("rpn.proposal_target_layer", "ProposalTargetLayer",
                                           "'num_classes': 21", 2, 5), caffe_pb2.LayerParameter())
    rule = rule_for_layer(layer)
    assert rule is not None
    for fork_type in ("PSROIPooling", "SoftmaxWithLossOHEM", "SmoothL1LossOHEM", "BoxAnnotatorOHEM"):
        context = LayerContext(layer, ((1, 5), (1, 4)), caffe_pb2.TRAIN, 5,
                               net_types=frozenset({"Python", "Convolution", fork_type}))
        assert list(rule.compute(context).top_shapes) == [
            (1, 5, 1, 1), (1, 1, 1, 1), (1, 84, 1, 1), (1, 84, 1, 1), (1, 84, 1, 1)]


@pytest.mark.parametrize(("tops", "expected"), [
    # cfg.TRAIN.HAS_RPN (end-to-end training): one 600x1000 image, im_info, gt_boxes.
    (3, [(1, 3, 600, 1000), (1, 3), (1, 4)]),
    # Fast R-CNN with bounding-box regression: two images, rois, labels, targets and weights.
    (6, [(2, 3, 600, 1000), (1, 5), (1,), (1, 84), (1, 84), (1, 84)]),
])
def test_roi_data_layer(tops: int, expected: list[Shape]) -> None:
    shapes = run(python_layer("roi_data_layer.layer", "RoIDataLayer", "'num_classes': 21", 0, tops))
    assert list(shapes.top_shapes) == expected
    assert shapes.notes


@pytest.mark.parametrize(("param_str", "tops", "message"), [
    ("'num_classes': 21", 5, "AssertionError"),
    ("'classes': 21", 3, "KeyError: 'num_classes'"),
])
def test_roi_data_layer_checks(param_str: str, tops: int, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        run(python_layer("roi_data_layer.layer", "RoIDataLayer", param_str, 0, tops))


# ---------------------------------------------------------------------------------------------
# FCN's data layers: shapes come from the images, so the rule names the options that give them.

VOC = "{'voc_dir': '../data/pascal/VOC2011', 'seed': 1337, 'split': 'seg11valid', 'mean': (104.0, 116.7, 122.7)}"
NYUD = "{'tops': ['color', 'hha', 'label'], 'seed': 1337, 'nyud_dir': '../data/nyud', 'split': 'trainval'}"


@pytest.mark.parametrize(("module", "layer", "param_str", "tops", "message"), [
    ("voc_layers", "VOCSegDataLayer", VOC, 2, "--input-shape t0=1,3,H,W --input-shape t1=1,1,H,W"),
    ("nyud_layers", "NYUDSegDataLayer", NYUD, 3,
     "t0=1,3,H,W --input-shape t1=1,3,H,W --input-shape t2=1,1,H,W"),
    ("siftflow_layers", "SIFTFlowSegDataLayer", "{'siftflow_dir': 'x', 'split': 'train'}", 3,
     "t0=1,3,H,W --input-shape t1=1,1,H,W --input-shape t2=1,1,H,W"),
])
def test_fcn_data_layers_are_data_dependent(module: str, layer: str, param_str: str, tops: int,
                                            message: str) -> None:
    with pytest.raises(ShapeUnknown, match=message):
        run(python_layer(module, layer, param_str, 0, tops))


@pytest.mark.parametrize(("module", "layer", "param_str", "bottoms", "tops", "message"), [
    ("voc_layers", "VOCSegDataLayer", VOC, 0, 1, "Need to define two tops"),
    ("voc_layers", "VOCSegDataLayer", VOC, 1, 2, "Do not define a bottom"),
    ("voc_layers", "VOCSegDataLayer", "{'voc_dir': 'x', 'split': 'val'}", 0, 2, "KeyError: 'mean'"),
    ("nyud_layers", "NYUDSegDataLayer", NYUD, 0, 2, "Need to define {} tops"),
    ("nyud_layers", "NYUDSegDataLayer", NYUD.replace("'hha'", "'ir'"), 0, 3, "Unknown output type: ir"),
])
def test_fcn_data_layer_checks(module: str, layer: str, param_str: str, bottoms: int, tops: int,
                               message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        run(python_layer(module, layer, param_str, bottoms, tops), [(1, 3, 8, 8)] * bottoms)


def test_spatial_dropout_and_pyloss() -> None:
    dropout = run(python_layer("spatial_dropout", "SpatialDropoutLayer", "{'phase': 'TEST', 'p': '0.01'}", 1),
                  [(1, 64, 128, 128)])
    assert dropout.top_shapes == ((1, 64, 128, 128),)
    with pytest.raises(RuleCheckFailed, match="p need to be between 0 and 1"):
        run(python_layer("spatial_dropout", "SpatialDropoutLayer", "{'phase': 'TEST', 'p': 1.5}", 1),
            [(1, 64, 8, 8)])
    loss = run(python_layer("pyloss", "EuclideanLossLayer", "", 2), [(10, 1), (10, 1)])
    assert loss.top_shapes == ((1,),)
    with pytest.raises(RuleCheckFailed, match="Inputs must have the same dimension"):
        run(python_layer("pyloss", "EuclideanLossLayer", "", 2), [(10, 1), (10, 2)])


# ---------------------------------------------------------------------------------------------
# Never imported

NET = """
name: "imports"
input: "data" input_shape { dim: 1 dim: 18 dim: 4 dim: 4 }
input: "deltas" input_shape { dim: 1 dim: 36 dim: 4 dim: 4 }
input: "im_info" input_shape { dim: 1 dim: 3 }
layer { name: "proposal" type: "Python" bottom: "data" bottom: "deltas" bottom: "im_info" top: "rois"
        python_param { module: "rpn.proposal_layer" layer: "ProposalLayer" param_str: "'feat_stride': 16" } }
layer { name: "mine" type: "Python" bottom: "rois" top: "out"
        python_param { module: "blobcalc_trap_module" layer: "TrapLayer" } }
"""

TRAP = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")
class {layer}:
    pass
"""


def test_python_modules_are_never_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Modules that would write a file if imported, one a well-known module (ruled), one unknown:
    analysing a net that names both imports neither."""
    marker = tmp_path / "imported.txt"
    (tmp_path / "rpn").mkdir()
    (tmp_path / "rpn" / "__init__.py").write_text(TRAP.format(marker=str(marker), layer="Package"))
    (tmp_path / "rpn" / "proposal_layer.py").write_text(TRAP.format(marker=str(marker), layer="ProposalLayer"))
    (tmp_path / "blobcalc_trap_module.py").write_text(TRAP.format(marker=str(marker), layer="TrapLayer"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    analysis = analyze(NET)
    assert not marker.exists()
    assert "rpn.proposal_layer" not in sys.modules and "blobcalc_trap_module" not in sys.modules
    by_name = {layer.name: layer for layer in analysis.layers}
    assert by_name["proposal"].top_shapes == ((1, 5),)
    assert by_name["proposal"].origin == PY_FASTER_RCNN
    assert not by_name["mine"].known
    assert "Python:blobcalc_trap_module.TrapLayer" in analysis.unsupported_types


# ---------------------------------------------------------------------------------------------
# Corpus nets end to end

def corpus_file(name: str) -> str:
    path = Path(CORPUS / name)
    if not path.exists():
        pytest.skip("../shared/corpus is not beside this checkout")
    return str(path)


def shapes_by_layer(name: str, phase: str = "TEST", **options: object) -> dict[str, tuple[Shape | None, ...]]:
    analysis = analyze(corpus_file(name), phase=phase, **options)  # type: ignore[arg-type]
    assert not analysis.partial and not analysis.unsupported_types
    return {layer.name: layer.top_shapes for layer in analysis.layers}


def test_faster_rcnn_test_net() -> None:
    """VGG16 faster_rcnn_end2end test.prototxt: a 224x224 image, conv5_3 at 1/16, the proposal
    layer's set-up rois [1, 5] pooled to 7x7 and classified."""
    shapes = shapes_by_layer("rbgirshick__py-faster-rcnn/models__pascal_voc__VGG16__faster_rcnn_end2end__test.prototxt")
    assert shapes["rpn_cls_score"] == ((1, 18, 14, 14),)
    assert shapes["rpn_cls_prob_reshape"] == ((1, 18, 14, 14),)
    assert shapes["proposal"] == ((1, 5),)
    assert shapes["roi_pool5"] == ((1, 512, 7, 7),)
    assert shapes["fc6"] == ((1, 4096),)
    assert shapes["cls_prob"] == ((1, 21),)
    assert shapes["bbox_pred"] == ((1, 84),)


def test_faster_rcnn_end2end_train_net() -> None:
    """The same net for training: RoIDataLayer (HAS_RPN, 600x1000), anchor targets on the 38x63
    map, proposal targets for 21 classes, and the fork's SmoothL1Loss."""
    shapes = shapes_by_layer(
        "rbgirshick__py-faster-rcnn/models__pascal_voc__VGG16__faster_rcnn_end2end__train.prototxt", "TRAIN")
    assert shapes["input-data"] == ((1, 3, 600, 1000), (1, 3), (1, 4))
    assert shapes["rpn-data"] == ((1, 1, 342, 63), (1, 36, 38, 63), (1, 36, 38, 63), (1, 36, 38, 63))
    assert shapes["roi-data"] == ((1, 5), (1, 1), (1, 84), (1, 84), (1, 84))
    assert shapes["roi_pool5"] == ((1, 512, 7, 7),)
    assert shapes["rpn_loss_bbox"] == ((),)
    assert shapes["loss_bbox"] == ((),)


def test_fast_rcnn_train_net() -> None:
    shapes = shapes_by_layer("rbgirshick__py-faster-rcnn/models__pascal_voc__VGG16__fast_rcnn__train.prototxt",
                             "TRAIN")
    assert shapes["data"] == ((2, 3, 600, 1000), (1, 5), (1,), (1, 84), (1, 84), (1, 84))
    assert shapes["roi_pool5"] == ((1, 512, 7, 7),)


def test_pvanet_cxx_proposal_layer() -> None:
    """PVANet's 384 training net with its own input size: the C++ Proposal layer keeps room for
    post_nms_topn (200) RoIs, which the proposal targets then sample."""
    shapes = shapes_by_layer(
        "sanghoon__pva-faster-rcnn/models__pvanet_obsolete__example_train_384__train.prototxt", "TRAIN",
        input_shapes={"data": (1, 3, 384, 640), "im_info": (1, 3), "gt_boxes": (1, 4)})
    assert shapes["proposal"] == ((200, 5), (200,))
    assert shapes["roi-data"][0] == (1, 5)
    assert shapes["roi_pool_conv5"] == ((1, 384, 6, 6),)  # convf: 384 channels


COCO_END2END = Path(__file__).resolve().parents[2] / "fixtures/forks/coco_vgg16_faster_rcnn_end2end_train.prototxt"


def test_coco_faster_rcnn_tuple_param_str_analyzes_fully() -> None:
    """py-faster-rcnn's COCO end2end net: `'scales': !!python/tuple [4, 8, 16, 32]` gives 12 anchors per
    cell, and every layer after the RPN is sized (before: 17.1 M parameters, the rest unknown)."""
    analysis = analyze(str(COCO_END2END), phase="TRAIN")
    assert not analysis.partial and not analysis.unsupported_types
    shapes = {layer.name: layer.top_shapes for layer in analysis.layers}
    assert shapes["rpn-data"] == ((1, 1, 12 * 38, 63), (1, 48, 38, 63), (1, 48, 38, 63), (1, 48, 38, 63))
    assert shapes["cls_score"] == ((1, 81),)
    # VGG16 (conv 14.71 M, fc6 102.76 M, fc7 16.78 M), the RPN and COCO's two heads.
    vgg = 14_714_688 + 25088 * 4096 + 4096 + 4096 * 4096 + 4096
    rpn = 512 * 512 * 9 + 512 + 512 * 24 + 24 + 512 * 48 + 48
    heads = 4096 * 81 + 81 + 4096 * 324 + 324
    assert analysis.param_count == vgg + rpn + heads


def test_rois_sizes_the_detection_head() -> None:
    """--rois N: the proposal layer's rois (TEST) and the proposal targets (TRAIN) get N rows, and the
    notes name py-faster-rcnn's own defaults."""
    name = "rbgirshick__py-faster-rcnn/models__pascal_voc__VGG16__faster_rcnn_end2end__test.prototxt"
    analysis = analyze(corpus_file(name), rois=300)
    layers = {layer.name: layer for layer in analysis.layers}
    assert layers["proposal"].top_shapes == ((300, 5),)
    assert layers["roi_pool5"].top_shapes == ((300, 512, 7, 7),)
    assert layers["cls_prob"].top_shapes == ((300, 21),)
    assert any("RPN_POST_NMS_TOP_N = 300" in note and "--rois" in note for note in layers["proposal"].notes)
    train = {layer.name: layer for layer in analyze(str(COCO_END2END), phase="TRAIN", rois=128).layers}
    assert train["roi-data"].top_shapes == ((128, 5), (128, 1), (128, 324), (128, 324), (128, 324))
    assert train["roi_pool5"].top_shapes == ((128, 512, 7, 7),)
    assert any("BATCH_SIZE = 128" in note for note in train["roi-data"].notes)


def test_top_shape_overrides_a_built_in_rule() -> None:
    name = "rbgirshick__py-faster-rcnn/models__pascal_voc__VGG16__faster_rcnn_end2end__test.prototxt"
    layers = {layer.name: layer for layer in analyze(corpus_file(name), top_shapes={"rois": (300, 5)}).layers}
    assert layers["proposal"].top_shapes == ((300, 5),)
    assert layers["fc6"].top_shapes == ((300, 4096),)
    assert "--top-shape overrides the rule ('rois' [300, 5] instead of [1, 5])" in layers["proposal"].notes
    # A BVLC layer too: the override wins and is said.
    conv = {layer.name: layer for layer in analyze(corpus_file(name), top_shapes={"conv1_1": (1, 64, 10, 10)}).layers}
    assert conv["conv1_1"].top_shapes == ((1, 64, 10, 10),)
    assert conv["pool1"].top_shapes == ((1, 64, 5, 5),)
    assert any("--top-shape overrides" in note for note in conv["conv1_1"].notes)


def test_fcn_net_with_given_image_size() -> None:
    shapes = shapes_by_layer("shelhamer__fcn.berkeleyvision.org/voc-fcn8s__val.prototxt",
                             input_shapes={"data": (1, 3, 500, 500), "label": (1, 1, 500, 500)})
    assert shapes["score"] == ((1, 21, 500, 500),)


@pytest.mark.parametrize("name", [
    "YuwenXiong__py-R-FCN/models__pascal_voc__ResNet-50__rfcn_end2end__class-aware__train_ohem.prototxt",
    "YuwenXiong__py-R-FCN/models__pascal_voc__ResNet-50__rfcn_end2end__train_agnostic_ohem.prototxt",
    "soeaver__caffe-model/det__faster_rcnn__models__coco__air101__faster_coco_air101-merge-fc2-ohem-multigrid.prototxt",
])
def test_ohem_per_roi_losses_line_up(name: str) -> None:
    """R-FCN's OHEM nets: SoftmaxWithLossOHEM's per-RoI loss is shaped like the labels (py-R-FCN's
    4-D [1, 1, 1, 1]) and SmoothL1LossOHEM's like [N, 1, H, W] of bbox_pred, so the Eltwise sum
    and BoxAnnotatorOHEM build (before: Eltwise refused [1, 1] against [1, 1, 1, 1])."""
    shapes = shapes_by_layer(name, "TRAIN")
    assert shapes["per_roi_loss_cls"][2] == (1, 1, 1, 1)
    assert shapes["per_roi_loss_bbox"][1] == (1, 1, 1, 1)
    assert shapes["per_roi_loss"] == ((1, 1, 1, 1),)
    assert shapes["annotator_detector"][0] == (1, 1, 1, 1)


PVANET_384 = "sanghoon__pva-faster-rcnn/models__pvanet_obsolete__example_train_384__train.prototxt"


def test_a_failure_after_an_assumed_python_input_size_says_so() -> None:
    """PVANet's 384 training net under py-faster-rcnn's default config (RoIDataLayer.setup():
    [1, 3, 600, 1000]): 600 and 1000 are no multiples of 32, so conv4_1/incep's pooled and strided
    branches disagree (38x63 vs 37x62), as in Caffe with that config. PVANet's own cfgs
    (SCALE_MULTIPLE_OF: 32) give sizes that build; the error names the assumed size and the way out."""
    with pytest.raises(ShapeError, match=r"conv4_1/incep.*default config: 'data' \[1, 3, 600, 1000\].*"
                                         r"--input-shape data=1,3,H,W"):
        analyze(corpus_file(PVANET_384), phase="TRAIN")
    analysis = analyze(corpus_file(PVANET_384), phase="TRAIN", input_shapes={"data": (1, 3, 864, 1440)})
    assert analysis.layers[0].top_shapes[0] == (1, 3, 864, 1440)
    assert not analysis.partial


def test_a_failure_with_the_input_size_given_names_no_default() -> None:
    with pytest.raises(ShapeError) as caught:
        analyze(corpus_file(PVANET_384), phase="TRAIN", input_shapes={"data": (1, 3, 600, 1000)})
    assert "default config" not in str(caught.value)
