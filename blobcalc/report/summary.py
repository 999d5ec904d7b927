"""The summary figures under the per-layer table, shared by the table, Markdown and HTML formats. Each
figure names the net, phase and batch it is for; a figure of a net with unknown layers says so and is a
lower bound ("at least") or unknown ("?"), never 0 (report/figures.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from blobcalc.api import NetReport
from blobcalc.memory import MemoryTotals, NetMemory
from blobcalc.memory_report import MemoryReport, unknown_layers_text
from blobcalc.report.figures import batch_text, bytes_text, count_text
from blobcalc.report.rows import totals
from blobcalc.units import format_bytes


@dataclass(frozen=True, slots=True)
class SummaryItem:
    label: str
    value: str
    notes: tuple[str, ...] = ()


def _components(t: MemoryTotals, unit: str, training: bool, partial: bool) -> str:
    if partial and not t.total:
        return ""
    parts = [f"activations {format_bytes(t.activation_data, unit)}"]
    if training or t.activation_diff:  # inference: loss tops' diffs, GPU losses' scratch diffs
        parts.append(f"activation gradients {format_bytes(t.activation_diff, unit)}")
    parts.append(f"parameters {format_bytes(t.param_data, unit)}")
    if training:
        parts += [f"parameter gradients {format_bytes(t.param_diff, unit)}",
                  f"solver state {format_bytes(t.solver_state, unit)}"]
    parts.append(f"layer buffers {format_bytes(t.buffers, unit)}")
    return (" = known layers only: " if partial else " = ") + " + ".join(parts)


def unknown_text(report: NetReport) -> str:
    """How many layers of the analysed net are unknown and why the first is: "" when every layer is known."""
    return unknown_layers_text(report.analysis)


def partial_text(report: NetReport) -> str:
    """The mark every partial figure carries."""
    unknown = report.analysis.unknown_layers
    if not unknown:
        return ""
    return f"  (partial: {len(unknown)} of {len(report.analysis.layers)} layers unknown, left out)"


def summary_items(report: NetReport, unit: str) -> list[SummaryItem]:
    analysis, memory = report.analysis, report.memory
    total = totals(analysis)
    partial = total.partial
    mark = partial_text(report)
    net = f"{analysis.phase} net, {batch_text(memory.batch)}"
    items = [
        SummaryItem("parameters", f"{count_text(total.param_count, partial)} "
                    f"({bytes_text(total.param_count * memory.element_bytes, partial, unit)} as {memory.dtype}){mark}"),
        SummaryItem(f"Caffe's log, \"Memory required for data\" ({net})",
                    f"{bytes_text(memory.caffe_log_bytes, partial, unit)}"
                    f"{'' if partial else f' ({memory.caffe_log_bytes:,} B'}"
                    f"{'' if partial else '; float32, counts in-place tops again)'}{mark}"),
        SummaryItem(f"unique blob data Caffe really allocates ({net})",
                    f"{bytes_text(memory.unique_blob_bytes, partial, unit)}{mark}"),
        SummaryItem(f"inference ({net}, {memory.dtype}, {_device(memory)})",
                    f"{bytes_text(memory.inference.totals.total, partial, unit)}"
                    f"{_components(memory.inference.totals, unit, False, partial)}{mark}",
                    _model_notes(memory.inference, unit)),
        SummaryItem(f"inference with each blob freed after its last reader ({net})",
                    f"{bytes_text(memory.peak.peak_bytes, partial, unit)}"
                    f"{f' (peak during {memory.peak.peak_layer!r})' if memory.peak.peak_layer else ''}{mark}"),
    ]
    train_net = f"TRAIN net, {batch_text(memory.training_batch)}"
    if memory.training is not None:
        solver = memory.solver
        train_partial = memory.training_partial
        train_mark = ""
        if train_partial:
            train_mark = (f"  (partial: {memory.training_unknown.split(', from')[0]} in the TRAIN net, left out)"
                          if memory.training_unknown else "  (partial: unknown layers of a test net left out)")
        tests = "".join(f" + test net (TEST, {batch_text(batch)}) {bytes_text(test.totals.total, test.partial, unit)}"
                        for test, batch in zip(memory.test_nets, memory.test_batches, strict=False))
        notes = ((memory.assumed_loss_text,) if memory.assumed_loss else ()) + memory.training_notes
        if memory.training_as_written is not None:
            as_written = memory.with_test_nets(memory.training_as_written)
            notes += (f"Caffe as written (no loss weight, so no backward pass; what a real run of this file "
                      f"allocates): {bytes_text(as_written, train_partial, unit)}",)
        items.append(SummaryItem(
            f"training ({train_net}, {solver.type} solver{' from ' + solver.source if solver.source else ''}, "
            f"{_device(memory)})",
            f"{bytes_text(memory.training_total or 0, train_partial, unit)}"
            f"{_components(memory.training.totals, unit, True, train_partial)}{tests}{train_mark}", notes))
    else:
        items.append(SummaryItem(f"training ({train_net})", f"not available: {memory.training_error}"))
    items.append(_seed_item(report, unit))
    items.append(_compute_item(report, mark))
    return items


def _device(memory: MemoryReport) -> str:
    """Which code path of Caffe the figures follow: CPU, or GPU with Caffe's or cuDNN's layers."""
    return "CPU" if memory.device == "cpu" else f"GPU, {'cuDNN' if memory.engine == 'cudnn' else 'Caffe'} engine"


def _model_notes(net_memory: NetMemory, unit: str) -> tuple[str, ...]:
    notes = [f"buffers not modelled (left out): {item}" for item in net_memory.not_modelled[:8]]
    if net_memory.workspace_bound:
        notes.append(f"cuDNN convolution workspaces (cudaMalloc, in no figure here): at most "
                     f"{format_bytes(net_memory.workspace_bound, unit)}, as cuDNN's chosen algorithms need")
    return tuple(notes)


def _seed_item(report: NetReport, unit: str) -> SummaryItem:
    """The seed method beside Caffe's figures, on the same nets, phases and batches: training for the
    TRAIN net at its batch, inference for one image of the analysed net."""
    analysis, memory = report.analysis, report.memory
    seed, seed_inference = memory.seed, memory.seed_inference
    label = f"seed method (the source document's rule; TRAIN net, {batch_text(memory.training_batch)})"
    if seed is None:
        return SummaryItem(label, f"not available: {memory.seed_error}")
    partial = memory.training_partial
    value = (f"training {bytes_text(seed.training_bytes, partial, unit)} = activations "
             f"{bytes_text(seed.activation_bytes_per_image, partial, unit)}/image x {seed.batch} + parameters x3 "
             f"{bytes_text(seed.param_bytes, partial, unit)} + input {bytes_text(seed.misc_bytes, partial, unit)}")
    if seed_inference is not None:
        value += (f"; inference ({analysis.phase} net, one image) "
                  f"{bytes_text(seed_inference.inference_bytes, memory.per_image_partial, unit)}")
    if partial or memory.per_image_partial:
        value += "  (partial: unknown layers left out)"
    return SummaryItem(label, value, tuple(f"seed vs Caffe: {note}" for note in memory.notes))


def _compute_item(report: NetReport, mark: str) -> SummaryItem:
    analysis, memory = report.analysis, report.memory
    maccs = sum(row.maccs for row in report.compute)
    partial = analysis.partial
    per_image = ""
    if memory.forward_maccs_per_image is not None and memory.batch != 1:
        per_image = f", {count_text(memory.forward_maccs_per_image, memory.per_image_partial)} per image"
    unmodelled = [row.name for row in report.compute if not row.modelled and row.index not in _unknown(report)]
    notes = ((f"compute not modelled for: {', '.join(unmodelled[:8])}{' …' if len(unmodelled) > 8 else ''}",)
             if unmodelled else ())
    return SummaryItem(f"compute ({analysis.phase} net, {batch_text(memory.batch)})",
                       f"{count_text(maccs, partial)} forward MACCs per batch{per_image} "
                       f"(FLOPs = 2 x MACCs){mark}", notes)


def _unknown(report: NetReport) -> set[int]:
    return {layer.index for layer in report.analysis.unknown_layers}


_OWN_LINE_NOTES = ("seed vs Caffe", "assumed loss", "Caffe as written")  # printed without "note:"


def summary_lines(report: NetReport, unit: str) -> list[str]:
    lines = []
    for item in summary_items(report, unit):
        lines.append(f"{item.label}: {item.value}")
        lines += [f"  {note}" if note.startswith(_OWN_LINE_NOTES) else f"  note: {note}" for note in item.notes]
    return lines


def notice_lines(report: NetReport, verbose: bool = True) -> list[str]:
    """The unknown layers, notices and per-layer notes under the summary. `verbose`: each on its own
    line; otherwise one line per kind (fork layer types, fork fields, the same note on several layers),
    so that a net of a fork (SSD: dozens of fork fields and PriorBox notes) stays readable."""
    analysis = report.analysis
    unknown = analysis.unknown_layers
    roots = [layer for layer in unknown if not layer.reason.startswith("bottom '")]
    lines = [f"unknown: layer '{layer.name}' ({layer.type}): {layer.reason}" for layer in roots]
    if len(unknown) > len(roots):
        lines.append(f"unknown: {len(unknown) - len(roots)} more layers downstream of these "
                     "(their figures are left out of every total)")
    grouped = False
    if verbose or len(analysis.fork_types) < 2:
        lines += [f"notice: layer type '{layer_type}' is not in BVLC Caffe; it comes from the {origin}"
                  for layer_type, origin in analysis.fork_types]
    else:
        by_origin: dict[str, list[str]] = {}
        for layer_type, origin in analysis.fork_types:
            by_origin.setdefault(origin, []).append(layer_type)
        lines.append("notice: layer types not in BVLC Caffe: " + "; ".join(
            f"{', '.join(types)} (the {origin})" for origin, types in by_origin.items()))
        grouped = True
    if verbose or len(analysis.fork_fields) < 2:
        lines += [f"notice: {name} is not in BVLC Caffe's schema, which refuses this file"
                  for name in analysis.fork_fields]
    else:
        names = [field.partition(" (")[0] for field in analysis.fork_fields]
        lines.append(f"notice: {len(names)} fields of forks are not in BVLC Caffe's schema, which refuses this "
                     f"file: {_first(names, 4)}")
        grouped = True
    lines += [f"notice: {notice}" for notice in (*analysis.notices, *report.notices)]
    notes: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for layer in analysis.layers:
        for note in layer.notes:
            # One kind of note: the same text but for its figures, on layers of one type.
            kind = (layer.type, re.sub(r"[0-9][0-9,.]*", "#", note))
            notes.setdefault(kind, []).append((layer.name, note))
    for (layer_type, _), found in notes.items():
        if verbose or len(found) == 1:
            lines += [f"note: layer '{name}': {note}" for name, note in found]
            continue
        names = [f"'{name}'" for name, _ in found]
        differ = "; the figures differ per layer" if len({note for _, note in found}) > 1 else ""
        lines.append(f"note: {len(found)} {layer_type} layers ({_first(names, 3)}): {found[0][1]}{differ}")
        grouped = True
    if grouped:
        lines.append("(notices of one kind are grouped; --verbose lists every one)")
    return lines


def _first(items: list[str], shown: int) -> str:
    return ", ".join(items[:shown]) + (f", … ({len(items)} in all)" if len(items) > shown else "")
