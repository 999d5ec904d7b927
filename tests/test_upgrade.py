"""Tests of blobcalc.upgrade: our fixtures against hand-written V2 nets, edge cases of Caffe's
upgrade_proto.cpp, and the V0/V1 nets of the shared corpus against real Caffe's golden answers."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import text_format

from blobcalc import caffe_pb2, upgrade
from blobcalc.errors import UpgradeError
from blobcalc.upgrade import UpgradeResult, net_era, upgrade_net

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "upgrade"
SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
CORPUS = SHARED / "corpus"
GOLDEN = SHARED / "golden"

# Every layer type BVLC Caffe registers (layer_factory); an upgraded net may only use these.
BVLC_TYPES = frozenset({
    "AbsVal", "Accuracy", "ArgMax", "BNLL", "BatchNorm", "BatchReindex", "Bias", "Clip", "Concat",
    "ContrastiveLoss", "Convolution", "Crop", "Data", "Deconvolution", "Dropout", "DummyData", "ELU",
    "Eltwise", "Embed", "EuclideanLoss", "Exp", "Filter", "Flatten", "HDF5Data", "HDF5Output",
    "HingeLoss", "Im2col", "ImageData", "InfogainLoss", "InnerProduct", "Input", "LRN", "LSTM",
    "LSTMUnit", "Log", "MVN", "MemoryData", "MultinomialLogisticLoss", "PReLU", "Parameter",
    "Pooling", "Power", "Python", "RNN", "ReLU", "Reduction", "Reshape", "SPP", "Scale", "Sigmoid",
    "SigmoidCrossEntropyLoss", "Silence", "Slice", "Softmax", "SoftmaxWithLoss", "Split", "Swish",
    "TanH", "Threshold", "Tile", "WindowData",
})


def parse(text: str) -> caffe_pb2.NetParameter:
    return text_format.Parse(text, caffe_pb2.NetParameter())


def upgrade_fixture(name: str) -> tuple[caffe_pb2.NetParameter, UpgradeResult]:
    path = FIXTURES / f"{name}.prototxt"
    net = parse(path.read_text())
    return net, upgrade_net(net, str(path))


def expected(name: str) -> caffe_pb2.NetParameter:
    return parse((FIXTURES / f"{name}.expected.prototxt").read_text())


def assert_same_net(actual: caffe_pb2.NetParameter, wanted: caffe_pb2.NetParameter) -> None:
    # Compare the text too, so that a failure shows a readable diff.
    assert text_format.MessageToString(actual) == text_format.MessageToString(wanted)
    assert actual == wanted


# --------------------------------------------------------------------------------------------
# Fixtures → expected V2 nets
# --------------------------------------------------------------------------------------------

FIXTURE_CASES = {
    "v0_padding": ("V0", (
        "upgraded V0 'layers { layer { ... } }' blocks to V1 'layers' (Caffe's UpgradeV0Net)",
        "folded V0 padding layer 'pad1' (pad 2) into 'conv1', which now reads 'data' "
        "(Caffe's UpgradeV0PaddingLayers)",
        "V0 layer 'relu1': Unknown parameter num_output for layer type relu; Caffe drops it and "
        "continues (UpgradeV0LayerParameter)",
        "upgraded V1 'layers' to V2 'layer' (Caffe's UpgradeV1Net)",
        "replaced the net-level 'input' fields by an Input layer named 'input' with tops data "
        "(Caffe's UpgradeNetInput)",
    )),
    "v0_data": ("V0", (
        "upgraded V0 'layers { layer { ... } }' blocks to V1 'layers' (Caffe's UpgradeV0Net)",
        "V0 layer 'flat': Unknown parameter group for layer type flatten; Caffe drops it and "
        "continues (UpgradeV0LayerParameter)",
        "V0 layer 'flat': Caffe's V0 upgrade silently ignores new_num",
        "upgraded V1 'layers' to V2 'layer' (Caffe's UpgradeV1Net)",
    )),
    "v1_train_val": ("V1", (
        "moved the deprecated scale/mean_file/crop_size/mirror fields of V1 data layers into "
        "transform_param (Caffe's UpgradeNetDataTransformation)",
        "V1 layer 'mnist': moved scale, mirror from data_param to transform_param",
        "upgraded V1 'layers' to V2 'layer' (Caffe's UpgradeV1Net)",
    )),
    "input_dim": ("V2", (
        "replaced the net-level 'input' fields by an Input layer named 'input' with tops data, rois "
        "(Caffe's UpgradeNetInput)",
    )),
    "input_shape": ("V2", (
        "replaced the net-level 'input' fields by an Input layer named 'input' with tops data, clip "
        "(Caffe's UpgradeNetInput)",
    )),
    "batchnorm_3params": ("V2", (
        "set lr_mult and decay_mult to 0 in the 3 param specs of 1 BatchNorm layer(s) ('bn_a') "
        "(Caffe's UpgradeNetBatchNorm)",
    )),
}


@pytest.mark.parametrize("name", sorted(FIXTURE_CASES))
def test_fixture_upgrades_to_expected_net(name: str) -> None:
    era, notices = FIXTURE_CASES[name]
    _, result = upgrade_fixture(name)
    assert_same_net(result.net, expected(name))
    assert result.era == era
    assert result.notices == notices


@pytest.mark.parametrize("name", sorted(FIXTURE_CASES))
def test_input_net_is_not_mutated(name: str) -> None:
    original, result = upgrade_fixture(name)
    assert original == parse((FIXTURES / f"{name}.prototxt").read_text())
    assert result.net is not original


def test_a_current_net_is_returned_as_it_is() -> None:
    """Nothing to upgrade: the same object, no copy (a copy costs as much memory as the parsed net)."""
    net = parse('layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 } } }')
    result = upgrade_net(net, "n.prototxt")
    assert result.net is net
    assert result.notices == ()
    assert result.era == "V2"


def test_an_in_place_step_upgrades_a_copy() -> None:
    text = ('layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x" '
            "param { lr_mult: 1 } param { lr_mult: 1 } param { lr_mult: 1 } }")
    net = parse(text)
    result = upgrade_net(net, "n.prototxt")
    assert result.net is not net
    assert net == parse(text)
    assert [(spec.lr_mult, spec.decay_mult) for spec in result.net.layer[0].param] == [(0.0, 0.0)] * 3


@pytest.mark.parametrize("name", sorted(FIXTURE_CASES))
def test_upgrading_twice_changes_nothing(name: str) -> None:
    _, first = upgrade_fixture(name)
    second = upgrade_net(first.net, name)
    assert second.net == first.net
    assert second.era == "V2"
    # Caffe's BatchNorm check still holds after its upgrade (3 specs remain), so it runs again.
    assert second.notices == tuple(notice for notice in first.notices
                                   if notice.endswith("(Caffe's UpgradeNetBatchNorm)"))


def test_mixed_layer_and_layers_is_refused() -> None:
    path = FIXTURES / "mixed_layer_layers.prototxt"
    net = parse(path.read_text())
    assert net_era(net) == "V1+V2"
    with pytest.raises(UpgradeError, match="both 'layer' and 'layers'") as caught:
        upgrade_net(net, str(path))
    assert caught.value.path == str(path)
    assert "switch every block to the 'layer' format" in caught.value.reason


def test_more_input_names_than_input_shapes_is_refused() -> None:
    path = FIXTURES / "input_names_exceed_shapes.prototxt"
    with pytest.raises(UpgradeError, match="2 'input' names but only 1 'input_shape'"):
        upgrade_net(parse(path.read_text()), str(path))


# --------------------------------------------------------------------------------------------
# Edge cases of upgrade_proto.cpp
# --------------------------------------------------------------------------------------------

def test_v0_unknown_type_is_fatal() -> None:
    net = parse('layers { layer { name: "x" type: "maxout" } top: "x" }')
    with pytest.raises(UpgradeError, match="Unknown layer name: maxout"):
        upgrade_net(net, "n.prototxt")


def test_v0_unknown_bottom_is_fatal() -> None:
    # UpgradeV0PaddingLayers knows only `input` names and earlier tops.
    net = parse('layers { layer { name: "r" type: "relu" } bottom: "nowhere" top: "r" }')
    with pytest.raises(UpgradeError, match="Unknown blob input nowhere"):
        upgrade_net(net, "n.prototxt")


def test_v0_padding_before_a_non_conv_layer_is_fatal() -> None:
    net = parse('input: "data" '
                'layers { layer { name: "pad" type: "padding" pad: 1 } bottom: "data" top: "p" } '
                'layers { layer { name: "r" type: "relu" } bottom: "p" top: "r" }')
    with pytest.raises(UpgradeError, match="non-convolutional / non-pooling"):
        upgrade_net(net, "n.prototxt")


def test_v0_padding_overrides_the_readers_own_pad() -> None:
    # Caffe calls set_pad() with the padding layer's value, replacing the pool's own pad.
    net = parse('input: "data" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4 '
                'layers { layer { name: "pad" type: "padding" pad: 3 } bottom: "data" top: "p" } '
                'layers { layer { name: "pool" type: "pool" kernelsize: 2 pad: 1 } '
                '         bottom: "p" top: "pool" }')
    pool = upgrade_net(net, "n.prototxt").net.layer[1]
    assert pool.bottom == ["data"]
    assert pool.pooling_param.pad == 3


def test_v0_net_drops_everything_but_name_layers_inputs_and_force_backward() -> None:
    # UpgradeV0Net builds a fresh net: V2 `layer` blocks, input_shape and state are lost.
    net = parse('name: "n" input: "data" input_shape { dim: 1 } state { phase: TRAIN } '
                'layer { name: "v2" type: "ReLU" bottom: "data" top: "data" } '
                'layers { layer { name: "r" type: "relu" } bottom: "data" top: "r" }')
    result = upgrade_net(net, "n.prototxt")
    assert result.era == "V0+V2"
    assert [layer.name for layer in result.net.layer] == ["r"]
    assert not result.net.HasField("state")
    assert list(result.net.input) == []  # no shape left, so UpgradeNetInput strips the name
    assert any("dropped state, input_shape, layer" in notice for notice in result.notices)


def test_v0_entry_without_v0_block_keeps_only_bottom_and_top() -> None:
    net = parse('input: "data" '
                'layers { layer { name: "r" type: "relu" } bottom: "data" top: "r" } '
                'layers { name: "v1" type: RELU bottom: "r" top: "s" }')
    result = upgrade_net(net, "n.prototxt")
    second = result.net.layer[1]
    assert (second.name, second.type, list(second.bottom), list(second.top)) == ("", "", ["r"], ["s"])
    assert not second.HasField("type")
    assert any("has no V0 'layer' block" in notice for notice in result.notices)


def test_data_upgrade_marks_every_data_layer_params_present() -> None:
    # CONVERT_LAYER_TRANSFORM_PARAM calls mutable_data_param() and mutable_transform_param() on
    # every DATA layer once any layer needs the upgrade.
    net = parse('layers { name: "a" type: DATA top: "a" data_param { crop_size: 4 } } '
                'layers { name: "b" type: DATA top: "b" } '
                'layers { name: "c" type: IMAGE_DATA top: "c" }')
    layers = upgrade_net(net, "n.prototxt").net.layer
    assert layers[0].transform_param.crop_size == 4
    assert not layers[0].data_param.HasField("crop_size")
    assert layers[1].HasField("data_param") and layers[1].HasField("transform_param")
    assert layers[2].HasField("image_data_param") and layers[2].HasField("transform_param")


def test_v1_none_type_becomes_empty_string() -> None:
    result = upgrade_net(parse('layers { name: "n" type: NONE }'), "n.prototxt")
    assert result.net.layer[0].HasField("type")
    assert result.net.layer[0].type == ""


def test_v1_type_unknown_to_caffe_is_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Our schema could one day hold a fork's V1 enum (CROP, VIDEO_DATA); Caffe's switch would not.
    known = {name: type_string for name, type_string in upgrade._V1_TYPE_STRINGS.items()
             if name != "CONVOLUTION"}
    monkeypatch.setattr(upgrade, "_V1_TYPE_STRINGS", known)
    net = parse('layers { name: "c" type: CONVOLUTION }')
    with pytest.raises(UpgradeError, match=r"'c' has type CONVOLUTION.*Unknown V1LayerParameter layer type"):
        upgrade_net(net, "n.prototxt")


def test_every_bvlc_v1_enum_maps_to_a_registered_type() -> None:
    enum = caffe_pb2.V1LayerParameter.LayerType
    for value in enum.values():
        if value == enum.Value("NONE") or enum.Name(value) in upgrade.FORK_V1_TYPES:
            continue
        net = caffe_pb2.NetParameter()
        net.layers.add(name="l", type=value)
        assert upgrade_net(net, "n.prototxt").net.layer[0].type in BVLC_TYPES


def test_input_names_without_shapes_are_stripped() -> None:
    # A legacy caffemodel's case: no Input layer, the names simply disappear.
    result = upgrade_net(parse('input: "data" layer { name: "r" type: "ReLU" bottom: "data" top: "r" }'),
                         "n.prototxt")
    assert list(result.net.input) == []
    assert [layer.name for layer in result.net.layer] == ["r"]
    assert "Caffe strips them" in result.notices[0]


def test_input_shape_wins_over_input_dim_and_extras_are_ignored() -> None:
    net = parse('input: "data" input_shape { dim: 2 dim: 3 } input_shape { dim: 9 } '
                'input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1')
    result = upgrade_net(net, "n.prototxt")
    (layer,) = result.net.layer
    assert [list(shape.dim) for shape in layer.input_param.shape] == [[2, 3]]
    assert not result.net.input_dim and not result.net.input_shape
    assert len(result.notices) == 3


def test_too_few_input_dims_are_refused() -> None:
    # netscope's 1D_lstm gives 3 input_dim values for its first input.
    net = parse('input: "data" input_dim: 1 input_dim: 1 input_dim: 1')
    with pytest.raises(UpgradeError, match="3 input_dim values instead of 4 per input"):
        upgrade_net(net, "n.prototxt")


def test_v2_net_without_legacy_fields_is_untouched() -> None:
    net = parse((FIXTURES / "input_dim.expected.prototxt").read_text())
    result = upgrade_net(net, "n.prototxt")
    assert result.net == net
    assert (result.era, result.notices) == ("V2", ())


# --------------------------------------------------------------------------------------------
# The shared corpus against real Caffe
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CorpusNet:
    file: str
    format: str
    bvlc_caffe: str


def corpus_nets() -> list[CorpusNet]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [CorpusNet(row["file"], row["format"], row["bvlc_caffe"]) for row in rows
            if row["kind"] in ("deploy", "train_val")]


LEGACY_NETS = [net for net in corpus_nets() if net.format in ("v0", "v1", "v1+v2")]


def parse_corpus(net: CorpusNet) -> caffe_pb2.NetParameter | None:
    """The corpus file as our schema reads it; None where it is not valid text for our schema."""
    try:
        return parse((CORPUS / net.file).read_text(encoding="utf-8"))
    except (text_format.ParseError, UnicodeDecodeError):
        return None


def golden_paths(file: str) -> list[Path]:
    """`<corpus file>.<PHASE>[.stage-<stage>].json`, matched by name (corpus names hold '@')."""
    folder = GOLDEN / Path(file).parent
    prefix = f"{Path(file).name}."
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir()
                  if path.name.startswith(prefix) and path.name.endswith(".json"))


def golden_records(file: str) -> Iterator[dict[str, object]]:
    for path in golden_paths(file):
        yield json.loads(path.read_text())


def meets_rule(rule: caffe_pb2.NetStateRule, phase: int, stages: frozenset[str]) -> bool:
    # net.cpp StateMeetsRule, with level 0.
    return ((not rule.HasField("phase") or rule.phase == phase)
            and (not rule.HasField("min_level") or rule.min_level <= 0)
            and (not rule.HasField("max_level") or rule.max_level >= 0)
            and all(stage in stages for stage in rule.stage)
            and not any(stage in stages for stage in rule.not_stage))


def kept_layers(net: caffe_pb2.NetParameter, phase: int,
                stages: frozenset[str]) -> list[caffe_pb2.LayerParameter]:
    kept = []
    for layer in net.layer:
        if layer.include:
            included = any(meets_rule(rule, phase, stages) for rule in layer.include)
        else:
            included = not any(meets_rule(rule, phase, stages) for rule in layer.exclude)
        if included:
            kept.append(layer)
    return kept


@pytest.mark.skipif(not LEGACY_NETS, reason="shared corpus not present")
@pytest.mark.parametrize("net", LEGACY_NETS, ids=[net.file for net in LEGACY_NETS])
def test_corpus_legacy_net_upgrades(net: CorpusNet) -> None:
    parsed = parse_corpus(net)
    if parsed is None:
        # Only nets that BVLC Caffe cannot read either (fork enums such as CROP, VIDEO_DATA).
        assert net.bvlc_caffe.startswith("caffe.proto-parse-error"), net.bvlc_caffe
        return
    if net.format == "v1+v2":
        with pytest.raises(UpgradeError, match="both 'layer' and 'layers'"):
            upgrade_net(parsed, net.file)
        return
    result = upgrade_net(parsed, net.file)
    assert result.era == net.format.upper()
    assert not result.net.layers
    assert not result.net.input and not result.net.input_dim and not result.net.input_shape
    fork_types = {type_string for type_string, _ in upgrade.FORK_V1_TYPES.values()}
    assert {layer.type for layer in result.net.layer} <= BVLC_TYPES | fork_types
    if any(layer.type in fork_types for layer in result.net.layer):
        assert any("BVLC Caffe's V1 upgrade does not know this type" in notice for notice in result.notices)
    assert any(notice.endswith("(Caffe's UpgradeV1Net)") for notice in result.notices)
    assert result.notices[0].endswith("(Caffe's UpgradeV0Net)") == (net.format == "v0")


def golden_cases() -> list[tuple[CorpusNet, str]]:
    """(net, golden file name) for each answer BVLC Caffe built: INDEX.tsv says ok and bvlc."""
    index = GOLDEN / "INDEX.tsv"
    if not index.exists():
        return []
    with index.open(newline="") as handle:
        built = {(row["file"], row["phase"], row["stage"]) for row in csv.DictReader(handle, delimiter="\t")
                 if row["ok"] == "true" and row["oracle"] == "bvlc"}
    cases = []
    for net in LEGACY_NETS:
        for phase in ("TEST", "TRAIN"):
            for stage in sorted({stage for file, _, stage in built if file == net.file}):
                if (net.file, phase, stage) in built:
                    suffix = f".stage-{stage}" if stage else ""
                    cases.append((net, f"{Path(net.file).name}.{phase}{suffix}.json"))
    return cases


GOLDEN_CASES = golden_cases()


@pytest.mark.skipif(not GOLDEN_CASES, reason="shared goldens not present")
@pytest.mark.parametrize(("net", "golden_name"), GOLDEN_CASES,
                         ids=[name for _, name in GOLDEN_CASES])
def test_corpus_legacy_net_has_golden_layers(net: CorpusNet, golden_name: str) -> None:
    golden = json.loads((GOLDEN / Path(net.file).parent / golden_name).read_text())
    parsed = parse_corpus(net)
    assert golden["ok"] and parsed is not None
    result = upgrade_net(parsed, net.file)
    phase = caffe_pb2.TRAIN if golden["phase"] == "TRAIN" else caffe_pb2.TEST
    stages = frozenset([golden["stage"]] if golden["stage"] else [])
    ours = [(layer.name, layer.type) for layer in kept_layers(result.net, phase, stages)]
    replaced = dict(entry.split(":", 1) for entry in golden["replaced_data_layers"])
    theirs = []
    for layer in golden["layers"]:
        if layer["auto_split"]:
            continue
        # A data layer Caffe could not build was replaced by an Input layer of the same name.
        layer_type = replaced[layer["name"]] if layer["name"] in replaced else layer["type"]
        theirs.append((layer["name"], layer_type))
    assert ours == theirs


# Caffe's LOG(WARNING) lines that UpgradeNetAsNeeded prints for each step it applies.
CAFFE_UPGRADE_WARNINGS = {
    "V0NetParameter": "(Caffe's UpgradeV0Net)",
    "transform_param messages for transformation fields": "(Caffe's UpgradeNetDataTransformation)",
    "input layers and not input fields": "(Caffe's UpgradeNetInput)",
}

# Nets BVLC Caffe can read; the others fail in parsing, before any upgrade.
ALL_NETS = [net for net in corpus_nets() if not net.bvlc_caffe.startswith("caffe.proto-parse-error")]


@pytest.mark.skipif(not ALL_NETS, reason="shared corpus not present")
@pytest.mark.parametrize("net", ALL_NETS, ids=[net.file for net in ALL_NETS])
def test_corpus_upgrade_steps_match_caffe_log(net: CorpusNet) -> None:
    """Every corpus net our schema reads: we apply an upgrade step iff BVLC Caffe logged it, and
    we refuse a net iff Caffe refused or crashed in its upgrade."""
    parsed = parse_corpus(net)
    records = [record for record in golden_records(net.file) if record["oracle"] in ("bvlc", "none")]
    if parsed is None or not records:
        pytest.skip("not readable by our schema, or no BVLC answer")
    errors = " ".join(str(record.get("error", "")) for record in records)
    try:
        result = upgrade_net(parsed, net.file)
    except UpgradeError:
        assert "Refusing to upgrade" in errors or "SIGSEGV" in errors, errors
        return
    assert "Refusing to upgrade" not in errors
    built = [record for record in records if record["ok"] and record["oracle"] == "bvlc"]
    for record in built:
        warnings = " ".join(str(line) for line in record["warnings"])  # type: ignore[attr-defined]
        for caffe_phrase, our_suffix in CAFFE_UPGRADE_WARNINGS.items():
            ours = any(notice.endswith(our_suffix) for notice in result.notices)
            assert ours == (caffe_phrase in warnings), (caffe_phrase, result.notices)


@pytest.mark.parametrize(("enum_name", "type_string"), [
    ("CONVOLUTION3D", "Convolution3D"),
    ("POOLING3D", "Pooling3D"),
    ("DECONVOLUTION3D", "Deconvolution3D"),
    ("VIDEO_DATA", "C3DVideoData"),
    ("VIDEO_WITH_VOXEL_TRUTH_DATA", "C3DVideoWithVoxelTruthData"),
    ("MULTI_STAGE_MEANFIELD", "MultiStageMeanfield"),
])
def test_fork_v1_enum_upgrades_with_a_notice(enum_name: str, type_string: str) -> None:
    net = parse(f'layers {{ name: "a" type: {enum_name} }} layers {{ name: "b" type: {enum_name} }}')
    result = upgrade_net(net, "n.prototxt")
    assert [layer.type for layer in result.net.layer] == [type_string, type_string]
    fork_notices = [notice for notice in result.notices if enum_name in notice]
    assert len(fork_notices) == 1
    assert f"upgraded 2 V1 layer(s) of type {enum_name} ('a', 'b') to '{type_string}'" in fork_notices[0]


def test_fork_v1_fields_reach_the_v2_layer() -> None:
    # C3D's fields live in BVLC messages that the V1 upgrade copies; CRF-RNN's message is carried.
    net = parse('layers { name: "c" type: CONVOLUTION3D convolution_param { num_output: 4 kernel_size: 3 '
                'kernel_depth: 3 temporal_pad: 1 } } '
                'layers { name: "m" type: MULTI_STAGE_MEANFIELD multi_stage_meanfield_param { '
                'num_iterations: 5 } }')
    conv, meanfield = upgrade_net(net, "n.prototxt").net.layer
    assert conv.convolution_param.kernel_depth == 3 and conv.convolution_param.temporal_pad == 1
    assert meanfield.multi_stage_meanfield_param.num_iterations == 5
