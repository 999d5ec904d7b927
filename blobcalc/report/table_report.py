"""Plain-text table for a terminal: one line per layer, then the totals and any notices."""
from __future__ import annotations

from blobcalc.report.rows import human_bytes, layer_rows, shapes_text, totals
from blobcalc.result import NetAnalysis

HEADERS = ("#", "layer", "type", "top shapes", "outputs", "params")


def table_lines(analysis: NetAnalysis) -> list[list[str]]:
    lines = []
    for row in layer_rows(analysis):
        layer = row.layer
        kind = layer.type + (" (auto)" if layer.auto_split else "")
        if layer.replaced_type:
            kind = f"Input<-{layer.replaced_type}"
        lines.append([str(layer.index), layer.name, kind, shapes_text(layer.top_shapes),
                      f"{row.output_elements:,}", f"{row.param_count:,}" if row.param_count else "-"])
    return lines


def render(analysis: NetAnalysis) -> str:
    lines = table_lines(analysis)
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(HEADERS)]
    right = {0, 4, 5}

    def fmt(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [f"net: {analysis.net_name or '(unnamed)'}   file: {analysis.source}   format: {analysis.era}   "
           f"phase: {analysis.phase}", "", fmt(HEADERS), fmt(["-" * w for w in widths])]
    out += [fmt(line) for line in lines]
    total = totals(analysis)
    marker = "  (partial: unknown layers left out)" if total.partial else ""
    out += ["", f"layers: {total.layers}   parameters: {total.param_count:,} "
                f"({human_bytes(4 * total.param_count)} as float32){marker}",
            f"Caffe's \"Memory required for data\": {total.caffe_memory_required_bytes:,} bytes "
            f"({human_bytes(total.caffe_memory_required_bytes)}){marker}"]
    for layer in analysis.unknown_layers:
        out.append(f"unknown: layer '{layer.name}' ({layer.type}): {layer.reason}")
    out += [f"notice: layer type '{layer_type}' is not in BVLC Caffe; it comes from the {origin}"
            for layer_type, origin in analysis.fork_types]
    out += [f"notice: field {name} is not in BVLC Caffe, which refuses this file"
            for name in analysis.fork_fields]
    out += [f"notice: {notice}" for notice in analysis.notices]
    for layer in analysis.layers:
        out += [f"note: layer '{layer.name}': {note}" for note in layer.notes]
    return "\n".join(out) + "\n"
