"""Issue #13 items 1, 2 and 6 and `fit` (#14 item 9), on real corpus nets: a deploy net is trained with
an assumed loss; a partial figure is a lower bound or unknown, never 0, in every format; every figure
says its net, phase and batch; `fit` says what limits the batch."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from blobcalc import analyze
from blobcalc.api import report
from blobcalc.cli import main
from blobcalc.compute import net_compute
from blobcalc.errors import ShapeError
from blobcalc.memory import net_memory, seed_counts
from blobcalc.report import html_report, render
from blobcalc.report.json_report import as_dict
from blobcalc.scan import PARTIAL, ScanOptions, scan
from tests.golden_support import CORPUS

RESNET50 = CORPUS / "KaimingHe__deep-residual-networks" / "prototxt__ResNet-50-deploy.prototxt"
CIFAR_TRAIN_TEST = CORPUS / "BVLC__caffe" / "examples__cifar10__cifar10_full_train_test.prototxt"
CIFAR_QUICK = CORPUS / "BVLC__caffe" / "examples__cifar10__cifar10_quick.prototxt"
CAFFENET_TRAIN_VAL = CORPUS / "BVLC__caffe" / "models__bvlc_reference_caffenet__train_val.prototxt"
GOOGLENET_DEPLOY = CORPUS / "CSAILVision__places365" / "deploy_googlenet_places365.prototxt"
FASTER_RCNN_TRAIN = (CORPUS / "rbgirshick__py-faster-rcnn"
                     / "models__pascal_voc__VGG16__faster_rcnn_end2end__train.prototxt")
NETSCOPE_FASTER_RCNN = CORPUS / "dgschwend__netscope" / "presets__fasterRCNN_VGG.prototxt"  # 'implicit' layers

# A figure printed as zero: "0 B", "0.00 MiB", "parameters: 0 ", "0 forward MACCs".
ZERO_FIGURE = re.compile(r"(?<![\d,.])0(\.0+)? (B|KiB|MiB|GiB|KB|MB|GB)\b|parameters: 0\b|(?<![\d,])0 forward MACCs")


# --- 1. Training a net that has no loss -------------------------------------------------------------

def with_loss_weight_on_prob(tmp_path: Path) -> Path:
    """ResNet-50 deploy with `loss_weight: 1` on its output, as a user training it would write."""
    text = RESNET50.read_text()
    layer = text.index('name: "prob"')
    closing = text.index("}", layer)
    edited = tmp_path / "resnet50_loss.prototxt"
    edited.write_text(text[:closing] + "\tloss_weight: 1\n" + text[closing:])
    return edited


def test_deploy_net_training_assumes_a_loss_on_its_outputs(tmp_path: Path) -> None:
    assumed = report(str(RESNET50), batch=4).memory
    literal = report(str(RESNET50), batch=4, assume_loss=False).memory
    assert assumed.assumed_loss == ("prob",) and literal.assumed_loss == ()
    assert assumed.training is not None and literal.training is not None
    assert literal.training.totals.activation_diff == 0  # Caffe's literal answer: no backward pass
    assert assumed.training.totals.activation_diff > assumed.training.totals.activation_data / 2
    assert "no backward pass" in literal.training_notes[0]
    # The assumption is exactly Caffe's behaviour for the file with `loss_weight: 1` on 'prob'.
    written = report(str(with_loss_weight_on_prob(tmp_path)), batch=4, assume_loss=False).memory
    assert written.assumed_loss == ()
    assert written.training == assumed.training


def test_fit_train_on_resnet50_deploy_counts_activation_gradients(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(RESNET50), "--memory", "11GiB", "--train"]) == 0
    out = capsys.readouterr().out
    assert "assumed loss:" in out and "'prob'" in out
    batch = int(re.search(r"within 11,264.00 MiB: (\d+), limited by memory", out).group(1))  # type: ignore[union-attr]
    at_batch = report(str(RESNET50), batch=batch).memory
    assert at_batch.training is not None and at_batch.training.totals.activation_diff > 0
    assert at_batch.training_total is not None and at_batch.training_total <= 11 * 2**30
    after = report(str(RESNET50), batch=batch + 1).memory.training_total
    assert after is not None and after > 11 * 2**30
    assert main(["fit", str(RESNET50), "--memory", "11GiB", "--train", "--no-assumed-loss"]) == 0
    literal = capsys.readouterr().out
    literal_batch = int(re.search(r"MiB: (\d+),", literal).group(1))  # type: ignore[union-attr]
    assert literal_batch > batch and "no backward pass" in literal and "assumed loss" not in literal


def test_no_assumed_loss_flag_in_analyze_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(RESNET50), "--no-assumed-loss"]) == 0
    out = capsys.readouterr().out
    assert "Caffe runs no backward pass" in out and "assumed loss:" not in out
    page = tmp_path / "r50.html"
    assert main(["report", str(RESNET50), "--no-assumed-loss", "-o", str(page)]) == 0
    assert "Caffe runs no backward pass" in page.read_text()


def test_assumed_loss_in_every_output(tmp_path: Path) -> None:
    result = report(str(RESNET50))
    assert "assumed loss:" in render(result, "table") and "'prob'" in render(result, "markdown")
    assert as_dict(result)["memory"]["assumed_loss"] == ["prob"]
    assert "assumed loss:" in html_report.render(result)
    [row] = list(scan([str(RESNET50)], ScanOptions()))
    assert any("assumes a loss on prob" in note for note in row.notes)
    literal = net_memory(analyze(str(RESNET50)), training=True).totals.total
    assert row.training_bytes is not None and row.training_bytes > literal


def test_caffes_figure_for_the_file_as_written_stays_beside_the_assumption(
        capsys: pytest.CaptureFixture[str]) -> None:
    # JSON `training` is what Caffe allocates for the file as written (what golden-memory measured), the
    # assumed-loss figure is beside it; the summary prints both.
    assumed, literal = report(str(RESNET50), batch=2), report(str(RESNET50), batch=2, assume_loss=False)
    document = as_dict(assumed)["memory"]
    assert literal.memory.training is not None and assumed.memory.training is not None
    assert document["training"]["totals"] == as_dict(literal)["memory"]["training"]["totals"]
    assert document["training"]["totals"]["activation_diff"] == 0
    assert document["training_with_assumed_loss"]["totals"]["total"] == assumed.memory.training.totals.total
    assert as_dict(literal)["memory"]["training_with_assumed_loss"] is None
    assert main(["analyze", str(RESNET50), "--batch", "2", "--summary", "--units", "B"]) == 0
    out = capsys.readouterr().out
    assert f"Caffe as written (no loss weight, so no backward pass; what a real run of this file allocates): " \
           f"{literal.memory.training.totals.total:,} B" in out


def test_a_net_with_a_loss_gets_none_assumed() -> None:
    memory = report(str(CAFFENET_TRAIN_VAL)).memory
    assert memory.assumed_loss == () and memory.training_notes == ()


# --- 2. Partial means partial -------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_cifar10_train_test_prints_no_zero_figure(fmt: str) -> None:
    text = render(report(str(CIFAR_TRAIN_TEST)), fmt)
    assert not ZERO_FIGURE.search(text), ZERO_FIGURE.search(text)
    assert "batch 100" in text  # data_param.batch_size, although the image size is unknown
    assert "batch ?" not in text and "batch unknown" not in text
    assert "parameters: ?" in text and "(partial: 17 of 17 layers unknown" in text


def test_cifar10_train_test_machine_formats_say_unknown() -> None:
    result = report(str(CIFAR_TRAIN_TEST))
    data = as_dict(result)
    assert data["partial"] and data["param_count"] is None and data["caffe_memory_required_bytes"] is None
    memory = data["memory"]
    assert (memory["batch"], memory["training_batch"]) == (100, 100)
    assert memory["caffe_log_bytes"] is None and memory["unique_blob_bytes"] is None
    assert set(memory["inference"]["totals"].values()) == {None}
    assert set(memory["training"]["totals"].values()) == {None}
    assert memory["inference"]["peak_with_freeing"]["bytes"] is None
    assert memory["seed"]["training_bytes"] is None and data["compute"]["forward_maccs"] is None
    assert all(layer["output_bytes"] is None for layer in data["layers"])
    assert all(row["maccs"] is None for row in data["compute"]["layers"])
    rows = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    figures = ("output_elements", "caffe_log_bytes", "forward_maccs", "inference_bytes")
    assert all(row[key] == "" for row in rows for key in figures)
    assert rows[-1]["status"] == "partial: at least" and rows[-1]["batch"] == "100"
    page = html_report.render(result)
    assert not ZERO_FIGURE.search(re.sub(r"<[^>]+>", " ", page[page.index('id="summary"'):]))
    [row] = list(scan([str(CIFAR_TRAIN_TEST)], ScanOptions()))
    assert row.status == PARTIAL
    assert (row.params, row.activation_bytes, row.training_bytes, row.caffe_log_bytes) == (None, None, None, None)


def test_partial_figures_are_lower_bounds() -> None:
    """netscope's Faster R-CNN has 'implicit' pseudo-layers: its figures are the known layers' sums,
    marked "at least" in text and given as known_part in JSON."""
    result = report(str(NETSCOPE_FASTER_RCNN))
    analysis = result.analysis
    assert analysis.partial
    known = sum(layer.param_count for layer in analysis.layers)
    text = render(result, "table")
    assert f"parameters: at least {known:,}" in text
    assert re.search(r"inference \(TEST net, batch \d+, float32, GPU, cuDNN engine\): at least [\d,.]+ MiB = "
                     r"known layers only", text)
    data = as_dict(result)
    assert data["param_count"] is None and data["known_part"]["param_count"] == known
    assert data["memory"]["inference"]["known_part"]["total"] == result.memory.inference.totals.total


def test_fit_refuses_a_partial_net_unless_asked_for_a_bound(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(NETSCOPE_FASTER_RCNN), "--memory", "11GiB"]) == 1
    err = capsys.readouterr().err
    assert "partial" in err and "'bbox_out' (implicit)" in err and "--allow-partial" in err
    assert main(["fit", str(NETSCOPE_FASTER_RCNN), "--memory", "11GiB", "--allow-partial"]) == 0
    out = capsys.readouterr().out
    bound = int(re.search(r"within 11,264.00 MiB: at most (\d+), limited by memory", out).group(1))  # type: ignore[union-attr]
    assert report(str(NETSCOPE_FASTER_RCNN), batch=bound).memory.inference.totals.total <= 11 * 2**30
    assert report(str(NETSCOPE_FASTER_RCNN), batch=bound + 1).memory.inference.totals.total > 11 * 2**30
    # Nothing of CIFAR-10's train_test is known (its data layer reads an LMDB): no bound at all.
    assert main(["fit", str(CIFAR_TRAIN_TEST), "--memory", "11GiB", "--allow-partial"]) == 1
    assert "nothing of this net's memory is known" in capsys.readouterr().err


def test_fit_is_limited_by_caffes_int_max(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(CIFAR_QUICK), "--memory", "80GiB"]) == 0
    out = capsys.readouterr().out
    batch = int(re.search(r"MiB: (\d+), limited by Caffe's INT_MAX blob size", out).group(1))  # type: ignore[union-attr]
    analyze(str(CIFAR_QUICK), batch=batch)
    with pytest.raises(ShapeError, match="INT_MAX"):
        analyze(str(CIFAR_QUICK), batch=batch + 1)
    assert f"batch {batch + 1}: does not fit, because Caffe cannot build it" in out


def test_fit_says_a_net_only_builds_at_batch_1(capsys: pytest.CaptureFixture[str]) -> None:
    """py-faster-rcnn's anchor targets are for one image: Caffe refuses any other batch."""
    assert main(["fit", str(FASTER_RCNN_TRAIN), "--memory", "11GiB", "--train"]) == 0
    out = capsys.readouterr().out
    assert "11,264.00 MiB: 1, limited by what Caffe can build (batch 2 is refused)" in out
    assert "batch 2: does not fit, because Caffe cannot build it: layer 'rpn_loss_cls'" in out


def test_fit_gives_one_answer_when_the_memory_does_not_depend_on_the_batch(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "fixed.prototxt"
    net.write_text('layer { name: "table" type: "Parameter" top: "table" parameter_param { shape { dim: 1000 '
                   'dim: 100 } } }\nlayer { name: "ip" type: "InnerProduct" bottom: "table" top: "ip" '
                   "inner_product_param { num_output: 10 } }\n")
    total = report(str(net)).memory.inference.totals.total
    assert main(["fit", str(net), "--memory", f"{total}B"]) == 0
    out = capsys.readouterr().out
    assert "fits at every batch: the estimate does not depend on the batch" in out and "does not fit\n" not in out
    assert main(["fit", str(net), "--memory", f"{total - 1}B"]) == 1
    assert "does not fit at any batch" in capsys.readouterr().out


# --- 6. Every figure states its phase and batch --------------------------------------------------------

def test_seed_and_caffe_training_are_for_the_same_net_phase_and_batch() -> None:
    """CaffeNet's train_val: TEST batch 50, TRAIN batch 256. Training and the seed's training figure are
    both for the TRAIN net at 256; inference for the TEST net at 50."""
    memory = report(str(CAFFENET_TRAIN_VAL)).memory
    assert (memory.phase, memory.batch, memory.training_batch) == ("TEST", 50, 256)
    assert memory.seed is not None and memory.seed.batch == 256
    activations, inputs = seed_counts(analyze(str(CAFFENET_TRAIN_VAL), phase="TRAIN", batch=1))
    assert (memory.seed.activations_per_image, memory.seed.input_elements_per_image) == (activations, inputs)
    assert memory.seed_inference is not None
    assert memory.seed_inference.activations_per_image == seed_counts(analyze(str(CAFFENET_TRAIN_VAL), batch=1))[0]
    text = render(report(str(CAFFENET_TRAIN_VAL)), "table")
    for label in ("Caffe's log, \"Memory required for data\" (TEST net, batch 50)",
                  "unique blob data Caffe really allocates (TEST net, batch 50)", "inference (TEST net, batch 50,",
                  "freed after its last reader (TEST net, batch 50)", "training (TRAIN net, batch 256,",
                  "seed method (the source document's rule; TRAIN net, batch 256)", "compute (TEST net, batch 50)"):
        assert label in text


def test_compute_per_image_and_per_batch() -> None:
    result = report(str(GOOGLENET_DEPLOY))  # batch 10 in the file
    per_image = sum(row.maccs for row in net_compute(analyze(str(GOOGLENET_DEPLOY), batch=1)))
    per_batch = sum(row.maccs for row in result.compute)
    assert result.memory.batch == 10 and result.memory.forward_maccs_per_image == per_image
    assert per_batch == 10 * per_image
    assert f"{per_batch:,} forward MACCs per batch, {per_image:,} per image" in render(result, "table")
    data = json.loads(render(result, "json"))["compute"]
    assert (data["phase"], data["batch"], data["forward_maccs"], data["forward_maccs_per_image"]) == (
        "TEST", 10, per_batch, per_image)


def test_every_format_and_scan_row_names_phase_and_batch() -> None:
    result = report(str(CAFFENET_TRAIN_VAL))
    assert "phase: TEST   batch: 50" in render(result, "table").splitlines()[0]
    assert render(result, "markdown").startswith("### CaffeNet (TEST, batch 50)")
    rows = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    assert {(row["phase"], row["batch"]) for row in rows} == {("TEST", "50")}
    data = as_dict(result)
    assert (data["memory"]["phase"], data["memory"]["batch"], data["memory"]["training_batch"]) == ("TEST", 50, 256)
    assert (data["memory"]["seed"]["phase"], data["memory"]["seed"]["batch"]) == ("TRAIN", 256)
    [row] = list(scan([str(CAFFENET_TRAIN_VAL)], ScanOptions()))
    assert (row.phase, row.batch, row.training_batch) == ("TEST", 50, 256)
    assert row.training_bytes == result.memory.training_total


def test_a_solvers_test_nets_say_their_batch_and_are_never_zero() -> None:
    alexnet = report(solver=str(CORPUS / "BVLC__caffe" / "models__bvlc_alexnet__solver.prototxt"))
    assert alexnet.memory.test_batches == (50,) and alexnet.memory.training_batch == 256
    assert "test net (TEST, batch 50) " in render(alexnet, "table")
    lenet = report(solver=str(CORPUS / "BVLC__caffe" / "examples__mnist__lenet_solver.prototxt"))
    text = render(lenet, "table")
    assert not ZERO_FIGURE.search(text), ZERO_FIGURE.search(text)
    assert "+ test net (TEST, batch 100) ?" in text
    assert lenet.memory.training_unknown.startswith("9 of 9 layers unknown, from 'mnist' (Data)")
