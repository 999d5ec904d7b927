"""One self-contained HTML page for one net: the memory summary, a sortable per-layer table, memory
charts drawn as inline SVG and the layer graph (Graphviz's SVG, inlined). Pure: returns a string.

Nothing is fetched when the page opens: CSS and JavaScript are inline and a Content-Security-Policy
forbids every other source. Every string that comes from the net is HTML-escaped.
"""
from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from blobcalc.api import NetReport
from blobcalc.drawing import FAMILY_COLOURS, result_family, svg_for_inlining
from blobcalc.memory import MemoryTotals
from blobcalc.report.figures import UNKNOWN_TEXT, batch_text
from blobcalc.report.rows import LayerRow, layer_rows, shapes_text
from blobcalc.report.summary import notice_lines, summary_items
from blobcalc.units import UNIT_BYTES, format_bytes

STYLE = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --head: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1400px; }
h1 { font-size: 22px; margin: 8px 0 2px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: var(--muted); margin: 0 0 12px; word-break: break-all; }
table { border-collapse: collapse; }
table.summary th { text-align: left; font-weight: 600; padding: 3px 16px 3px 0; vertical-align: top;
                   white-space: nowrap; }
table.summary td { padding: 3px 0; }
table.summary ul { margin: 2px 0; padding-left: 18px; color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.layers { width: 100%; font-size: 13px; }
table.layers th, table.layers td { border-bottom: 1px solid var(--line); padding: 3px 8px; white-space: nowrap; }
table.layers thead th { position: sticky; top: 0; background: var(--head); cursor: pointer; user-select: none;
                        white-space: nowrap; text-align: left; }
table.layers thead th.num { text-align: right; }
table.layers thead th::after { content: " \\2195"; color: #aab; }
table.layers thead th[aria-sort="ascending"]::after { content: " \\25B2"; color: var(--ink); }
table.layers thead th[aria-sort="descending"]::after { content: " \\25BC"; color: var(--ink); }
table.layers tbody tr:hover { background: #fff8c5; }
tr.auto td { color: var(--muted); }
tr.unknown td { color: #b42318; }
.swatch { display: inline-block; width: 10px; height: 10px; border: 1px solid #777; border-radius: 2px;
          margin-right: 6px; vertical-align: baseline; }
.scroll { max-height: 70vh; overflow: auto; border: 1px solid var(--line); }
.chart { width: 100%; height: auto; display: block; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 6px 0; color: var(--muted); font-size: 13px; }
.note { color: var(--muted); }
.warning { background: #fff8c5; border: 1px solid #d4a72c; padding: 8px 12px; border-radius: 6px; }
.graph { overflow: auto; max-height: 85vh; border: 1px solid var(--line); background: #fff; }
svg text { font-family: system-ui, Helvetica, Arial, sans-serif; }
"""

# Sorts a table.sortable by the clicked column: numbers by their data-sort value, text by its
# content; a second click reverses; ties keep the net's order.
SCRIPT = """
(function () {
  function key(cell, numeric) {
    var value = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent;
    if (!numeric) { return value.toLowerCase(); }
    var number = parseFloat(value);
    return isNaN(number) ? -Infinity : number;
  }
  function compare(x, y) { return x < y ? -1 : (x > y ? 1 : 0); }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (header, column) {
      header.setAttribute('tabindex', '0');
      function sort() {
        var numeric = header.getAttribute('data-type') === 'number';
        var ascending = header.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(headers, function (other) { other.removeAttribute('aria-sort'); });
        header.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var order = compare(key(a.cells[column], numeric), key(b.cells[column], numeric));
          if (!ascending) { order = -order; }
          return order || (Number(a.getAttribute('data-order')) - Number(b.getAttribute('data-order')));
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      header.addEventListener('click', sort);
      header.addEventListener('keydown', function (event) {
        if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); sort(); }
      });
    });
  });
})();
"""

# Component colours (Tableau 10): the same component has the same colour in every bar.
COMPONENT_COLOURS = {
    "activations": "#4e79a7",
    "activation gradients": "#a0cbe8",
    "parameters": "#f28e2b",
    "parameter gradients": "#ffbe7d",
    "solver state": "#59a14f",
    "layer buffers": "#b07aa1",
    "test nets": "#9c755f",
    "input": "#bab0ac",
}

def swatch_class(name: str) -> str:
    """The CSS class of a colour swatch (a family or a memory component): classes, not style
    attributes, so the CSP needs no 'unsafe-inline' for styles either."""
    return "swatch-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


PAGE_STYLE = STYLE + "".join(f".{swatch_class(name)} {{ background: {colour}; }}\n"
                             for name, colour in {**FAMILY_COLOURS, **COMPONENT_COLOURS}.items())


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


# default-src 'none': the page can load nothing from anywhere. Only the page's own <style> and <script>
# run, named by their SHA-256 (no 'unsafe-inline'): if a name from the net ever slipped through the
# escaping as markup, a script or style it brings would still not run. Images only from data: URLs.
CONTENT_SECURITY_POLICY = (f"default-src 'none'; style-src {_sha256_source(PAGE_STYLE)}; "
                           f"script-src {_sha256_source(SCRIPT)}; img-src data:")

CHART_WIDTH = 960
NUM_CLASS = ' class="num"'


def escape(text: object) -> str:
    """Any value as HTML text or attribute content (quotes escaped too)."""
    return html.escape(str(text), quote=True)


def page(title: str, body: Sequence[str]) -> str:
    """A complete HTML document around `body` with the shared style and sorting script."""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="blobcalc">',
        f"<title>{escape(title)}</title>",
        f"<style>{PAGE_STYLE}</style>",
        "</head>",
        "<body>",
        *body,
        f"<script>{SCRIPT}</script>",
        "</body>",
        "</html>",
    ]) + "\n"


@dataclass(frozen=True, slots=True)
class Segment:
    label: str
    bytes: int


def _components(totals_: MemoryTotals, training: bool) -> list[Segment]:
    segments = [Segment("activations", totals_.activation_data)]
    if training or totals_.activation_diff:  # inference: loss tops' diffs, GPU losses' scratch diffs
        segments.append(Segment("activation gradients", totals_.activation_diff))
    segments.append(Segment("parameters", totals_.param_data))
    if training:
        segments += [Segment("parameter gradients", totals_.param_diff), Segment("solver state", totals_.solver_state)]
    segments.append(Segment("layer buffers", totals_.buffers))
    return segments


def _components_text(segments: Sequence[Segment], unit: str) -> str:
    return " + ".join(f"{segment.label} {format_bytes(segment.bytes, unit)}" for segment in segments)


def _family(row: LayerRow, report: NetReport) -> str:
    return result_family(row.layer, report.analysis.graph.layers[row.layer.index].param)


def _summary(report: NetReport, unit: str) -> list[str]:
    memory = report.memory
    rows: list[tuple[str, str]] = []

    def add(label: str, value: str, notes: Sequence[str] = ()) -> None:
        items = "".join(f"<li>{escape(note)}</li>" for note in notes)
        rows.append((escape(label), escape(value) + (f"<ul>{items}</ul>" if items else "")))

    solver = memory.solver
    add("batch", f"{batch_text(memory.batch)} ({memory.phase} net); {batch_text(memory.training_batch)} (TRAIN net)")
    add("solver", f"{solver.type}{' from ' + solver.source if solver.source else ' (default: no --solver)'}, "
        f"{solver.regularization_type} regularization, {memory.device.upper()} code path")
    # The same figures, labels and partial marks as the table and Markdown formats.
    for item in summary_items(report, unit):
        add(item.label, item.value, item.notes)
    out = ['<table class="summary" id="summary">']
    out += [f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows]
    out.append("</table>")
    notices = notice_lines(report)
    if notices:
        out.append('<div class="warning" id="notices"><ul>' + "".join(f"<li>{escape(line)}</li>" for line in notices)
                   + "</ul></div>")
    return out


LAYER_COLUMNS: tuple[tuple[str, bool], ...] = (  # (header, numeric)
    ("#", True), ("layer", False), ("type", False), ("top shapes", False), ("outputs", True), ("params", True),
    ("MACCs", True), ("activations", True), ("buffers", True), ("inference memory", True),
    ("training memory", True))


def _layer_table(report: NetReport, rows: Sequence[LayerRow], unit: str) -> list[str]:
    head = "".join(f'<th scope="col"{NUM_CLASS if numeric else ""} data-type="{"number" if numeric else "text"}">'
                   f"{escape(name)}</th>" for name, numeric in LAYER_COLUMNS)
    out = ['<div class="scroll">', '<table class="layers sortable" id="layers">', f"<thead><tr>{head}</tr></thead>",
           "<tbody>"]
    for row in rows:
        layer = row.layer
        family = _family(row, report)
        kind = layer.type + (" (auto)" if layer.auto_split else "")
        if layer.replaced_type:
            kind = f"Input<-{layer.replaced_type}"
        classes = [c for c in ("auto" if layer.auto_split else "", "" if layer.known else "unknown") if c]
        row_class = f' class="{" ".join(classes)}"' if classes else ""
        training = row.training.total if row.training is not None else None

        def number(value: int | None, text: str | None = None, known: bool = layer.known) -> str:
            if value is None:
                return '<td class="num" data-sort="">-</td>'
            if not known and value == 0:  # a layer of unknown shapes: unknown, not 0
                return f'<td class="num" data-sort="">{UNKNOWN_TEXT}</td>'
            return f'<td class="num" data-sort="{value}">{escape(text if text is not None else f"{value:,}")}</td>'

        cells = [
            number(layer.index, str(layer.index), True),
            f"<td>{escape(layer.name)}</td>",
            f'<td><span class="swatch {swatch_class(family)}" title="{escape(family)}">'
            f"</span>{escape(kind)}</td>",
            f"<td>{escape(shapes_text(layer.top_shapes))}</td>",
            number(row.output_elements),
            number(row.param_count),
            number(row.compute.maccs),
            number(row.inference.activation_data, format_bytes(row.inference.activation_data, unit)),
            number(row.inference.buffer_bytes, format_bytes(row.inference.buffer_bytes, unit)),
            number(row.inference.total, format_bytes(row.inference.total, unit)),
            number(training, None if training is None else format_bytes(training, unit)),
        ]
        out.append(f'<tr data-order="{layer.index}" data-family="{escape(family)}"{row_class}>{"".join(cells)}</tr>')
    out += ["</tbody>", "</table>", "</div>"]
    if rows and rows[0].training is None:
        out.append('<p class="note">Training memory per layer is shown when the table\'s net is the one trained '
                   "(--phase TRAIN).</p>")
    return out


def _nice_step(maximum: float) -> float:
    """A round tick step (1, 2 or 5 × 10^k) giving about four ticks up to `maximum`."""
    raw = maximum / 4 if maximum > 0 else 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(factor * magnitude for factor in (1, 2, 5, 10) if factor * magnitude >= raw * (1 - 1e-9))


def _decimals(step: float) -> int:
    """Decimals that show a tick step exactly: 0 for 5, 1 for 0.5, 2 for 0.05."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _family_legend(families: Sequence[str]) -> str:
    return '<div class="legend">' + "".join(
        f'<span><span class="swatch {swatch_class(family)}"></span>{escape(family)}</span>'
        for family in FAMILY_COLOURS if family in families) + "</div>"


def layer_memory_chart(report: NetReport, rows: Sequence[LayerRow], unit: str) -> list[str]:
    """Columns in the net's order, one per layer (rect.bar), height = the layer's inference memory."""
    if rows and not any(row.layer.known for row in rows):  # a chart of unknowns would show zeros
        return ['<p class="note" id="layer-chart-note">No layer\'s memory is known, so there is no chart.</p>']
    height, left, top, bottom = 240, 70, 10, 24
    plot_width, plot_height = CHART_WIDTH - left - 10, height - top - bottom
    values = [row.inference.total for row in rows]
    unit_bytes = UNIT_BYTES[unit]
    maximum = max(values, default=0) / unit_bytes  # ticks are round numbers of the shown unit
    step = _nice_step(maximum)
    ticks = max(math.ceil(maximum / step - 1e-9), 1)
    scale_top = step * ticks * unit_bytes
    out = [f'<svg class="chart" id="layer-chart" viewBox="0 0 {CHART_WIDTH} {height}" role="img" '
           f'aria-label="inference memory per layer" xmlns="http://www.w3.org/2000/svg">']
    for i in range(ticks + 1):
        y = top + plot_height - plot_height * i / ticks
        tick_label = f"{i * step:,.{_decimals(step)}f} {unit}"
        out.append(f'<line x1="{left}" x2="{CHART_WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#59636e">'
                   f"{escape(tick_label)}</text>")
    width = plot_width / max(len(rows), 1)
    gap = 1.0 if width > 3 else 0.0
    families = []
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        family = _family(row, report)
        families.append(family)
        bar_height = plot_height * value / scale_top
        x = left + i * width
        out.append(f'<rect class="bar" data-layer="{escape(row.layer.name)}" x="{x:.2f}" '
                   f'y="{top + plot_height - bar_height:.2f}" width="{max(width - gap, 0.5):.2f}" '
                   f'height="{bar_height:.2f}" fill="{FAMILY_COLOURS[family]}" stroke="#555" stroke-width="0.3">'
                   f"<title>{escape(f'#{row.layer.index} {row.layer.name} ({row.layer.type}): ')}"
                   f"{escape(format_bytes(value, unit) if row.layer.known else UNKNOWN_TEXT)}</title></rect>")
    out.append(f'<line x1="{left}" x2="{CHART_WIDTH - 10}" y1="{top + plot_height}" y2="{top + plot_height}" '
               'stroke="#59636e"/>')
    out.append(f'<text x="{left}" y="{height - 6}" font-size="11" fill="#59636e">first layer</text>'
               f'<text x="{CHART_WIDTH - 10}" y="{height - 6}" font-size="11" fill="#59636e" text-anchor="end">'
               "last layer</text>")
    out.append("</svg>")
    out.append(_family_legend(families))
    return out


def _seed_segments(report: NetReport) -> list[Segment] | None:
    seed = report.memory.seed
    if seed is None:
        return None
    return [Segment("activations", seed.activation_bytes_per_image * seed.batch),
            Segment("parameters", seed.param_bytes), Segment("input", seed.misc_bytes)]


def components_chart(report: NetReport, unit: str) -> list[str]:
    """Stacked bars on one scale: Caffe's training memory by component (the main one), inference,
    and the seed method's training figure."""
    memory = report.memory
    bars: list[tuple[str, list[Segment]]] = []
    if memory.training is not None:
        training = _components(memory.training.totals, True)
        if memory.test_nets:
            training.append(Segment("test nets", sum(t.totals.total for t in memory.test_nets)))
        bars.append(("training (Caffe)" + (" at least" if memory.training_partial else ""), training))
    bars.append(("inference (Caffe)" + (" at least" if memory.partial else ""),
                 _components(memory.inference.totals, False)))
    seed = _seed_segments(report)
    if seed is not None:
        bars.append(("training (seed method)" + (" at least" if memory.training_partial else ""), seed))
    # A partial bar of which nothing is known is unknown, not a bar of 0: it is left out and named.
    unknown_bars = [label.removesuffix(" at least") for label, segments in bars
                    if label.endswith(" at least") and not sum(s.bytes for s in segments)]
    bars = [(label, segments) for label, segments in bars if label.removesuffix(" at least") not in unknown_bars]
    label_width, bar_height, gap, value_width = 170, 26, 14, 110
    plot_width = CHART_WIDTH - label_width - value_width
    height = len(bars) * (bar_height + gap) + gap
    maximum = max((sum(s.bytes for s in segments) for _, segments in bars), default=0) or 1
    out = [f'<svg class="chart" id="components-chart" viewBox="0 0 {CHART_WIDTH} {height}" role="img" '
           f'aria-label="memory by component" xmlns="http://www.w3.org/2000/svg">']
    used: list[str] = []
    for i, (label, segments) in enumerate(bars):
        y = gap + i * (bar_height + gap)
        out.append(f'<g class="stack" data-bar="{escape(label)}">'
                   f'<text x="{label_width - 8}" y="{y + bar_height / 2 + 4:.1f}" font-size="13" '
                   f'text-anchor="end">{escape(label)}</text>')
        x = float(label_width)
        for segment in segments:
            width = plot_width * segment.bytes / maximum
            if segment.label not in used:
                used.append(segment.label)
            out.append(f'<rect class="segment" data-component="{escape(segment.label)}" data-bytes="{segment.bytes}" '
                       f'x="{x:.2f}" y="{y}" width="{width:.2f}" height="{bar_height}" '
                       f'fill="{COMPONENT_COLOURS[segment.label]}"><title>{escape(label)}: {escape(segment.label)} '
                       f"{escape(format_bytes(segment.bytes, unit))}</title></rect>")
            x += width
        total = sum(segment.bytes for segment in segments)
        out.append(f'<text x="{x + 6:.2f}" y="{y + bar_height / 2 + 4:.1f}" font-size="12" fill="#59636e">'
                   f"{escape(format_bytes(total, unit))}</text></g>")
    out.append("</svg>")
    out.append('<div class="legend">' + "".join(
        f'<span><span class="swatch {swatch_class(name)}"></span>{escape(name)}</span>'
        for name in used) + "</div>")
    if memory.training is None:
        out.append(f'<p class="note">Training is not shown: {escape(memory.training_error)}</p>')
    if unknown_bars:
        out.append(f'<p class="note">Unknown (no layer of it is known): {escape(", ".join(unknown_bars))}</p>')
    return out


def _graph(graph_svg: str | None, graph_note: str) -> list[str]:
    if graph_svg is None:
        note = graph_note or "The layer graph is not included."
        return [f'<p class="note" id="graph-note">{escape(note)}</p>']
    out = [f'<div class="graph" id="graph">{svg_for_inlining(graph_svg)}</div>']
    out.append('<p class="note">In-place layers (ReLU, BatchNorm, Scale, Dropout on their bottom) are the '
               "extra lines of the box they modify; Caffe's inserted Split layers are hidden.</p>")
    if graph_note:
        out.append(f'<p class="note">{escape(graph_note)}</p>')
    return out


def render(report: NetReport, graph_svg: str | None = None, *, unit: str = "MiB", graph_note: str = "",
           back_link: tuple[str, str] | None = None) -> str:
    """The page for one net. `graph_svg` is Graphviz's SVG of the layer graph (blobcalc.drawing);
    without it, `graph_note` (or a default note) stands in its place. `back_link` is (relative
    href, text) of a page to go back to, e.g. a scan's index."""
    analysis = report.analysis
    rows = layer_rows(report)
    name = analysis.net_name or "(unnamed)"
    stages = f", stages {', '.join(analysis.stages)}" if analysis.stages else ""
    back = [f'<p class="meta"><a href="{escape(back_link[0])}">← {escape(back_link[1])}</a></p>'] if back_link else []
    body = [
        *back,
        f"<h1>{escape(name)}</h1>",
        f'<p class="meta">file {escape(analysis.source)} · format {escape(analysis.era)} · phase '
        f"{escape(analysis.phase)}, level {analysis.level}{escape(stages)} · {len(analysis.layers)} layers · "
        f"memory in {escape(unit)}</p>",
        '<h2 id="summary-heading">Summary</h2>',
        *_summary(report, unit),
        "<h2>Memory by component</h2>",
        *components_chart(report, unit),
        "<h2>Inference memory per layer</h2>",
        *layer_memory_chart(report, rows, unit),
        "<h2>Layers</h2>",
        '<p class="note">Click a column header to sort; click again to reverse.</p>',
        *_layer_table(report, rows, unit),
        "<h2>Graph</h2>",
        *_graph(graph_svg, graph_note),
    ]
    return page(f"{name} — blobcalc", body)
