"""The memory model against hand computations on a net we wrote, for every solver type; the seed
method against the source document's example and its formula on real nets; fit at its answer."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from blobcalc import analyze
from blobcalc.api import report
from blobcalc.cli import main
from blobcalc.fit import LIMIT_MEMORY, Trial, largest_batch
from blobcalc.memory import SeedEstimate, net_memory, seed_counts
from blobcalc.report.json_report import as_dict
from blobcalc.result import NetAnalysis
from blobcalc.solver import SOLVER_BUFFERS

PROJECT = Path(__file__).resolve().parent.parent
TINY = str(PROJECT / "fixtures" / "memory" / "tiny_train.prototxt")
CORPUS = PROJECT.parent / "shared" / "corpus"
F = 4  # float32 bytes

# Hand computation for TinyTrain (batch 2, float32):
ACTIVATIONS = (384 + 2) + 288 + 72 + 10 + 1  # data+label, conv (relu in place), pool (dropout in place), fc, loss
# conv, pool, fc, loss, and the input: nothing upstream learns, but conv_layer.cu's Backward takes
# bottom[0]->mutable_gpu_diff() whenever its weights are learned.
GRADIENTS = 384 + 288 + 72 + 10 + 1
PARAMS = (4 * 3 * 3 * 3 + 4) + (5 * 36 + 5)  # conv weights + bias, fc weights + bias
# col_buffer_ [C*k*k, 6*6] + bias_multiplier_ [36] + kernel_shape_, stride_, pad_, dilation_ [2 each] and
# conv_input_shape_ [3] (Blob<int>, base_conv_layer.cpp)
CONV_BUFFERS = 3 * 9 * 36 + 36 + 11
POOL_BUFFERS = 72  # max_idx_ (int)
DROPOUT_MASK = 72  # rand_vec_ (uint), TRAIN only
FC_BUFFERS = 2  # bias_multiplier_ [M = 2]
LOSS_BUFFERS = 10 + 10 + 5 + 2  # prob_, prob_ diff, sum_multiplier_ [5], scale_ [2]
# softmax_loss_layer.cu's Forward writes per-element losses into bottom[0]'s diff (an activation diff),
# and Layer::SetLossWeights gives the loss top its diff at SetUp: both in inference too.
INFERENCE_DIFFS = 10 + 1


def test_training_components_by_hand() -> None:
    memory = report(TINY, phase="TRAIN", engine="caffe").memory
    assert memory.training is not None
    totals = memory.training.totals
    assert totals.activation_data == F * ACTIVATIONS
    assert totals.activation_diff == F * GRADIENTS
    assert totals.param_data == F * PARAMS
    assert totals.param_diff == F * PARAMS
    assert totals.solver_state == F * PARAMS  # SGD: one history blob per parameter
    assert totals.buffers == F * (CONV_BUFFERS + POOL_BUFFERS + DROPOUT_MASK + FC_BUFFERS + LOSS_BUFFERS)
    assert memory.training_total == totals.total == 14380


def test_inference_components_and_peak_by_hand() -> None:
    memory = report(TINY, phase="TEST", engine="caffe").memory
    totals = memory.inference.totals
    assert totals.activation_data == F * ACTIVATIONS
    assert totals.param_data == F * PARAMS
    assert totals.activation_diff == F * INFERENCE_DIFFS
    assert totals.param_diff == totals.solver_state == 0
    assert totals.buffers == F * (CONV_BUFFERS + POOL_BUFFERS + FC_BUFFERS + LOSS_BUFFERS)
    # The peak is during conv: data, label and conv live, plus conv's buffers, plus the parameters.
    assert memory.peak.peak_layer == "conv"
    assert memory.peak.peak_bytes == F * (386 + 288 + CONV_BUFFERS + PARAMS)
    # In-place ReLU and Dropout tops are counted again by Caffe's log, not by the unique figure.
    assert memory.caffe_log_bytes == F * (ACTIVATIONS + 288 + 72)
    assert memory.unique_blob_bytes == F * ACTIVATIONS


@pytest.mark.parametrize("solver_type", sorted(SOLVER_BUFFERS))
@pytest.mark.parametrize("device", ["gpu", "cpu"])
def test_solver_state_for_every_solver_type(tmp_path: Path, solver_type: str, device: str) -> None:
    solver = tmp_path / "solver.prototxt"
    solver.write_text(f'net: "{TINY}"\ntype: "{solver_type}"\nbase_lr: 0.01\n')
    memory = report(solver=str(solver), device=device).memory
    assert memory.training is not None
    expected_buffers = {"SGD": (1, 1), "Nesterov": (1, 2), "AdaGrad": (1, 2), "RMSProp": (1, 2),
                        "AdaDelta": (2, 4), "Adam": (2, 3)}[solver_type][device == "cpu"]
    assert memory.training.totals.solver_state == F * PARAMS * expected_buffers


def test_l1_regularization_adds_a_temporary(tmp_path: Path) -> None:
    solver = tmp_path / "solver.prototxt"
    solver.write_text(f'net: "{TINY}"\ntype: "SGD"\nregularization_type: "L1"\nweight_decay: 0.0005\n')
    memory = report(solver=str(solver)).memory
    assert memory.training is not None
    assert memory.training.totals.solver_state == F * PARAMS * 2


def test_legacy_solver_type_and_test_nets_add_activations(tmp_path: Path) -> None:
    solver = tmp_path / "solver.prototxt"
    solver.write_text(f'net: "{TINY}"\nsolver_type: ADAM\ntest_iter: 1\ntest_interval: 10\n')
    result = report(solver=str(solver), engine="caffe")
    assert result.memory.solver.type == "Adam"
    assert len(result.memory.test_nets) == 1
    test_net = result.memory.test_nets[0].totals
    assert test_net.param_data == 0  # test nets share the train net's parameters
    assert test_net.total == F * (ACTIVATIONS + INFERENCE_DIFFS + CONV_BUFFERS + POOL_BUFFERS + FC_BUFFERS
                                  + LOSS_BUFFERS)
    assert result.memory.training is not None
    assert result.memory.training_total == result.memory.training.totals.total + test_net.total
    assert any("legacy solver_type" in notice for notice in result.notices)


def test_both_solver_type_fields_are_refused(tmp_path: Path) -> None:
    solver = tmp_path / "solver.prototxt"
    solver.write_text(f'net: "{TINY}"\nsolver_type: ADAM\ntype: "SGD"\n')
    assert main(["analyze", "--solver", str(solver)]) == 1


def test_propagate_down_and_lr_mult_zero_prune_gradients() -> None:
    text = Path(TINY).read_text().replace(
        'convolution_param { num_output: 4 kernel_size: 3 }',
        'param { lr_mult: 0 } param { lr_mult: 0 } convolution_param { num_output: 4 kernel_size: 3 }')
    frozen = net_memory(analyze(text, phase="TRAIN"), training=True)
    # Nothing below fc has a learnable parameter any more, so Caffe's Net::Init marks no blob below
    # it as needing backward: only fc's and the loss's tops keep gradients.
    assert frozen.totals.activation_diff == F * (10 + 1)
    assert frozen.totals.param_diff == F * PARAMS  # ClearParamDiffs touches every learnable blob


def test_force_backward_gives_the_input_a_gradient() -> None:
    text = "force_backward: true\n" + Path(TINY).read_text()
    forced = net_memory(analyze(text, phase="TRAIN"), training=True)
    # The data's gradient is computed (conv's Backward already took it as scratch); never the label's.
    assert forced.totals.activation_diff == F * GRADIENTS
    label = forced.rows[0]
    assert label.activation_diff == F * 384


def test_seed_document_example_to_the_byte(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", "--activations", "532752", "--params", "19072984", "--input-elements", "9000",
                 "--batch", "128"]) == 0
    out = capsys.readouterr().out
    assert "4.06 MiB" in out and "218.27 MiB" in out and "4.39 MiB" in out
    assert "742.93 MiB  (779,021,856 B)" in out


def test_seed_on_tiny_by_hand() -> None:
    seed = report(TINY, phase="TRAIN").memory.seed
    assert seed == SeedEstimate(activations_per_image=144 + 144 + 36 + 36 + 5 + 1, params=PARAMS,
                                input_elements_per_image=192 + 1, batch=2)
    assert seed.training_bytes == 4 * (2 * 366 * 2 + 3 * PARAMS + 193 * 2)
    assert seed.inference_bytes == 4 * (PARAMS + 366)


@pytest.mark.parametrize("net", [
    "BVLC__caffe/models__bvlc_alexnet__deploy.prototxt",
    "CSAILVision__places365/deploy_googlenet_places365.prototxt",
    "KaimingHe__deep-residual-networks/prototxt__ResNet-50-deploy.prototxt",
])
def test_seed_formula_on_real_nets(net: str) -> None:
    path = str(CORPUS / net)
    result = report(path, batch=8)
    per_image = analyze(path, batch=1)
    activations = sum(layer.output_elements for layer in per_image.layers
                      if layer.type != "Input" and not layer.auto_split)
    inputs = sum(layer.output_elements for layer in per_image.layers if layer.type == "Input")
    seed = result.memory.seed
    assert seed is not None
    assert (seed.activations_per_image, seed.input_elements_per_image, seed.batch) == (activations, inputs, 8)
    assert seed.training_bytes == 4 * (2 * activations * 8 + 3 * per_image.param_count + inputs * 8)
    assert seed.inference_bytes == 4 * (per_image.param_count + activations)


FIXED_TOP = Path(TINY).read_text() + (
    'layer { name: "table" type: "Parameter" top: "table" parameter_param { shape { dim: 1000 dim: 100 } } }\n')


@pytest.mark.parametrize("train", [False, True])
def test_fit_is_verified_at_the_answer_and_the_next_batch(tmp_path: Path, train: bool,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "fixed.prototxt"
    net.write_text(FIXED_TOP)

    def estimate(batch: int) -> int:
        memory = report(str(net), batch=batch).memory
        total = memory.training_total if train else memory.inference.totals.total
        assert total is not None
        return total

    budget = 2_000_000
    fit = largest_batch(lambda batch: Trial(batch, estimate(batch)), budget)
    assert fit.batch > 1 and fit.limit == LIMIT_MEMORY
    assert estimate(fit.batch) <= budget < estimate(fit.batch + 1)
    # A 100,000-element top that does not grow with the batch: extrapolating from batch 1 is wrong.
    assert estimate(2) - estimate(1) != estimate(1)
    args = ["fit", str(net), "--memory", f"{budget}B"] + (["--train"] if train else [])
    assert main(args) == 0
    assert f"within 1.91 MiB: {fit.batch}, limited by memory\n" in capsys.readouterr().out


def test_fit_reports_when_nothing_fits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", TINY, "--memory", "1KiB"]) == 1
    assert "not even batch 1 fits" in capsys.readouterr().out


def test_per_layer_rows_sum_to_the_printed_totals() -> None:
    data = as_dict(report(TINY, phase="TRAIN"))
    for kind in ("inference", "training"):
        section = data["memory"][kind]
        for key in ("activation_data", "activation_diff", "param_data", "param_diff", "solver_state"):
            assert sum(layer[key] for layer in section["layers"]) == section["totals"][key]
        assert sum(layer["buffer_bytes"] for layer in section["layers"]) == section["totals"]["buffers"]
        assert sum(layer["total"] for layer in section["layers"]) == section["totals"]["total"]
    assert sum(layer["output_bytes"] for layer in data["layers"]) == data["caffe_memory_required_bytes"]
    assert data["compute"]["forward_maccs"] == 288 * 27 + 72 + 10 * 36  # conv, TRAIN dropout's scaling, fc


@pytest.mark.parametrize("dtype,size", [("float16", 2), ("float64", 8), ("int8", 1)])
def test_dtype_scales_everything_but_caffes_log(dtype: str, size: int) -> None:
    base = report(TINY, phase="TRAIN").memory
    other = report(TINY, phase="TRAIN", dtype=dtype).memory
    assert other.unique_blob_bytes * F == base.unique_blob_bytes * size
    assert other.caffe_log_bytes == base.caffe_log_bytes


def count_analyses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The phase of each analyze_net call report() makes from now on."""
    import blobcalc.api

    phases: list[str] = []
    real = blobcalc.api.analyze_net

    def counting(*args: Any, **kwargs: Any) -> NetAnalysis:
        phases.append(kwargs.get("phase", "TEST"))
        return real(*args, **kwargs)

    monkeypatch.setattr(blobcalc.api, "analyze_net", counting)
    return phases


def test_report_analyses_a_phase_independent_net_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """TinyTrain has no phase rules: its training is the TEST analysis run in the TRAIN phase (its
    dropout mask is TRAIN-only) and its seed estimate re-propagates the same graph at batch 1; both
    give exactly what a full re-analysis gives."""
    phases = count_analyses(monkeypatch)
    memory = report(TINY).memory
    assert phases == ["TEST"]
    assert memory.training == net_memory(analyze(TINY, phase="TRAIN"), training=True)
    activations, inputs = seed_counts(analyze(TINY, batch=1))
    assert memory.seed == SeedEstimate(activations, PARAMS, inputs, 2)


def test_report_reanalyses_a_net_with_phase_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = tmp_path / "net.prototxt"
    net.write_text(Path(TINY).read_text().replace(
        'layer { name: "drop" type: "Dropout" bottom: "pool" top: "pool" }',
        'layer { name: "drop" type: "Dropout" bottom: "pool" top: "pool" include { phase: TRAIN } }'))
    phases = count_analyses(monkeypatch)
    memory = report(str(net)).memory
    assert phases == ["TEST", "TRAIN"]
    assert memory.training == net_memory(analyze(str(net), phase="TRAIN"), training=True)


def test_phase_independent_nets_train_like_their_train_analysis() -> None:
    """scan's shortcut: a net without include/exclude rules, layer phases or Python layers trains
    exactly like its TRAIN-phase analysis when its layers simply run in the TRAIN phase."""
    from blobcalc import caffe_pb2
    from blobcalc.api import analyze_net
    from blobcalc.netstate import phase_independent
    from blobcalc.parse import parse_net, read_text

    checked = 0
    for path in sorted(CORPUS.glob("*/*deploy*.prototxt"))[:40]:
        net = parse_net(read_text(str(path)), str(path))
        if not phase_independent(net):
            continue
        try:
            test = analyze_net(net, str(path), phase="TEST")
            train = analyze_net(net, str(path), phase="TRAIN")
        except Exception:
            continue
        shortcut = net_memory(test, training=True, run_phase=caffe_pb2.TRAIN)
        assert shortcut.totals == net_memory(train, training=True).totals, path
        checked += 1
    assert checked >= 10
