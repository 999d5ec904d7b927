"""The summary lines under the per-layer table, shared by the table and Markdown formats."""
from __future__ import annotations

from blobcalc.api import NetReport
from blobcalc.memory import MemoryTotals
from blobcalc.report.rows import totals
from blobcalc.units import format_bytes


def _components(t: MemoryTotals, unit: str, training: bool) -> str:
    parts = [f"activations {format_bytes(t.activation_data, unit)}"]
    if training:
        parts.append(f"activation gradients {format_bytes(t.activation_diff, unit)}")
    parts.append(f"parameters {format_bytes(t.param_data, unit)}")
    if training:
        parts += [f"parameter gradients {format_bytes(t.param_diff, unit)}",
                  f"solver state {format_bytes(t.solver_state, unit)}"]
    parts.append(f"layer buffers {format_bytes(t.buffers, unit)}")
    return " + ".join(parts)


def summary_lines(report: NetReport, unit: str) -> list[str]:
    analysis, memory = report.analysis, report.memory
    total = totals(analysis)
    partial = "  (partial: unknown layers left out)" if total.partial else ""
    batch = f"batch {memory.batch}" if memory.batch is not None else "batch unknown"
    lines = [
        f"parameters: {total.param_count:,} ({format_bytes(total.param_count * memory.element_bytes, unit)} "
        f"as {memory.dtype}){partial}",
        f"Caffe's log, \"Memory required for data\": {format_bytes(memory.caffe_log_bytes, unit)} "
        f"({memory.caffe_log_bytes:,} B; float32, counts in-place tops again){partial}",
        f"unique blob data Caffe really allocates: {format_bytes(memory.unique_blob_bytes, unit)}",
        f"inference ({analysis.phase} net, {batch}, {memory.dtype}): "
        f"{format_bytes(memory.inference.totals.total, unit)} = {_components(memory.inference.totals, unit, False)}",
        f"inference with each blob freed after its last reader: {format_bytes(memory.peak.peak_bytes, unit)} "
        f"(peak during '{memory.peak.peak_layer}')",
    ]
    if memory.training is not None:
        solver = memory.solver
        tests = (f" + test nets {format_bytes(sum(t.totals.total for t in memory.test_nets), unit)}"
                 if memory.test_nets else "")
        lines.append(f"training (TRAIN net, {solver.type} solver{' from ' + solver.source if solver.source else ''}"
                     f", {memory.device.upper()}): {format_bytes(memory.training_total or 0, unit)} = "
                     f"{_components(memory.training.totals, unit, True)}{tests}")
        lines += [f"  note: {note}" for note in memory.training_notes]
    else:
        lines.append(f"training: not available: {memory.training_error}")
    seed = memory.seed
    if seed is not None:
        lines.append(f"seed method (the source document's rule): training {format_bytes(seed.training_bytes, unit)} "
                     f"= activations {format_bytes(seed.activation_bytes_per_image, unit)}/image x {seed.batch} + "
                     f"parameters x3 {format_bytes(seed.param_bytes, unit)} + input "
                     f"{format_bytes(seed.misc_bytes, unit)}; inference {format_bytes(seed.inference_bytes, unit)}"
                     " (one image)")
        lines += [f"  seed vs Caffe: {note}" for note in memory.notes]
    else:
        lines.append(f"seed method: not available: {memory.seed_error}")
    maccs = sum(row.maccs for row in report.compute)
    lines.append(f"compute: {maccs:,} forward MACCs ({2 * maccs:,} FLOPs; 1 MACC = 2 FLOPs)")
    unmodelled = [row.name for row in report.compute if not row.modelled]
    if unmodelled:
        lines.append(f"  compute not modelled for: {', '.join(unmodelled[:8])}"
                     f"{' …' if len(unmodelled) > 8 else ''}")
    return lines


def notice_lines(report: NetReport) -> list[str]:
    analysis = report.analysis
    unknown = analysis.unknown_layers
    roots = [layer for layer in unknown if not layer.reason.startswith("bottom '")]
    lines = [f"unknown: layer '{layer.name}' ({layer.type}): {layer.reason}" for layer in roots]
    if len(unknown) > len(roots):
        lines.append(f"unknown: {len(unknown) - len(roots)} more layers downstream of these "
                     "(their figures are left out of every total)")
    lines += [f"notice: layer type '{layer_type}' is not in BVLC Caffe; it comes from the {origin}"
              for layer_type, origin in analysis.fork_types]
    lines += [f"notice: {name} is not in BVLC Caffe's schema, which refuses this file"
              for name in analysis.fork_fields]
    lines += [f"notice: {notice}" for notice in (*analysis.notices, *report.notices)]
    for layer in analysis.layers:
        lines += [f"note: layer '{layer.name}': {note}" for note in layer.notes]
    return lines
