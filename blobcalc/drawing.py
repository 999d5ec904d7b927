"""The layer DAG drawn for people: DOT and GraphML text built from the networkx graph, with in-place
layers folded into the layer they modify and Caffe's inserted Split layers hidden. Pure functions,
except `render_graphviz`, the one place that runs Graphviz's `dot`."""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from blobcalc import caffe_pb2
from blobcalc.errors import BlobcalcError
from blobcalc.escaping import escape_controls
from blobcalc.graph import BlobRef, to_networkx
from blobcalc.result import LayerResult, NetAnalysis
from blobcalc.shapes.registry import Shape, rule_for_layer

CONVOLUTION, POOLING, NORMALIZATION, ACTIVATION = "convolution", "pooling", "normalization", "activation"
LOSS, DATA, STRUCTURAL, OTHER = "loss", "data", "structural", "fork/unknown"

# Fill colours of the families (ColorBrewer Pastel/Set3 tones: distinct, readable under black text).
FAMILY_COLOURS: dict[str, str] = {
    CONVOLUTION: "#9ecae1",
    POOLING: "#a1d99b",
    NORMALIZATION: "#fdd0a2",
    ACTIVATION: "#fcbba1",
    LOSS: "#cbc9e2",
    DATA: "#ffffb3",
    STRUCTURAL: "#d9d9d9",
    OTHER: "#fccde5",
}

# Types by family, the BVLC names and the forks' names we have rules for. Data layers and loss
# layers are also recognised from their shape rule (`source`, `is_loss`), so a fork's data or loss
# layer lands in the right family without being listed here.
_FAMILY_TYPES: dict[str, frozenset[str]] = {
    CONVOLUTION: frozenset({"Convolution", "Deconvolution", "InnerProduct", "Embed", "Im2col", "Convolution3D",
                            "Deconvolution3D", "ConvolutionDepthwise", "DepthwiseConvolution",
                            "LargeMarginInnerProduct", "MarginInnerProduct", "RNN", "LSTM", "LSTMUnit"}),
    POOLING: frozenset({"Pooling", "Pooling3D", "SPP", "ROIPooling", "PSROIPooling", "ROIAlign"}),
    NORMALIZATION: frozenset({"BatchNorm", "BN", "LRN", "MVN", "Normalize", "Scale", "Bias"}),
    ACTIVATION: frozenset({"ReLU", "PReLU", "ELU", "Sigmoid", "TanH", "AbsVal", "BNLL", "Power", "Exp", "Log",
                           "Threshold", "Clip", "Swish", "ReLU6", "SeLu", "SeLuDropout", "Dropout", "Softmax"}),
    LOSS: frozenset({"Accuracy", "SegAccuracy"}),
    DATA: frozenset({"Input", "Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "DummyData",
                     "Parameter"}),
    STRUCTURAL: frozenset({"Concat", "Slice", "Split", "Flatten", "Reshape", "Eltwise", "Crop", "Silence", "Tile",
                           "ArgMax", "Reduction", "Permute", "BatchReindex", "Filter", "HDF5Output",
                           "ShuffleChannel", "Reorg", "Upsample", "Interp", "Axpy"}),
}


def layer_family(layer_type: str, *, is_source: bool = False, is_loss: bool = False) -> str:
    """The colour family of a layer type; `is_source`/`is_loss` come from its shape rule."""
    if is_source:
        return DATA
    if is_loss or layer_type.endswith("Loss"):
        return LOSS
    for family, types in _FAMILY_TYPES.items():
        if layer_type in types:
            return family
    return OTHER


def result_family(result: LayerResult, param: caffe_pb2.LayerParameter) -> str:
    """The family of an analysed layer: a data layer an --input-shape replaced stays a data layer."""
    rule = rule_for_layer(param)
    return layer_family(result.replaced_type or result.type,
                        is_source=bool(result.replaced_type) or (rule is not None and rule.source),
                        is_loss=rule is not None and rule.is_loss)


@dataclass(frozen=True, slots=True)
class DrawnLayer:
    """One box of the drawing: a layer with the in-place layers that modify its tops folded in."""

    index: int  # the layer's index in the built net (Caffe's order)
    name: str
    type: str
    family: str
    tops: tuple[tuple[str, Shape | None], ...]  # (blob name, shape); None: unknown
    folded: tuple[tuple[str, str], ...]  # (type, name) of the in-place layers folded in, in order
    known: bool  # False: shapes unknown (no rule, or downstream of an unknown layer)


@dataclass(frozen=True, slots=True)
class DrawnEdge:
    """A blob from its (visible) writer to one (visible) reader, Split copies seen through."""

    source: int  # layer index of the writer's box
    target: int
    blob: str  # the blob's name as the writer wrote it
    shape: Shape | None
    show_name: bool  # the blob's name differs from the writer's layer name, or it has several tops


@dataclass(frozen=True, slots=True)
class Drawing:
    net_name: str
    layers: tuple[DrawnLayer, ...]
    edges: tuple[DrawnEdge, ...]
    hidden_splits: int  # Caffe's inserted Split layers left out
    folded_layers: int  # in-place layers shown as a line of another box


def _by_index(edges: Iterable[tuple[Any, Any, Any]], end: int) -> list[BlobRef]:
    """One end (0: source, 1: target) of a layer's edges, ordered by their bottom/top index."""
    ends: list[BlobRef] = [edge[end] for edge in sorted(edges, key=lambda edge: edge[2])]
    return ends


def layer_drawing(analysis: NetAnalysis) -> Drawing:
    """The boxes and arrows to draw for an analysed net, from `to_networkx(analysis.graph)`."""
    dag = to_networkx(analysis.graph)
    results = analysis.layers
    # Which box shows each blob version: (layer index of the box, the blob's name as drawn).
    shown_by: dict[BlobRef, tuple[int, str]] = {}
    folded_into: dict[int, int] = {}
    visible: list[int] = []
    edges: list[DrawnEdge] = []
    for result in results:
        node = ("layer", result.index)
        bottom_refs = _by_index(dag.in_edges(node, data="index"), 0)
        top_refs = _by_index(dag.out_edges(node, data="index"), 1)
        if result.auto_split:
            # Caffe's inserted Split: its copies are drawn as the blob it copies.
            source = shown_by.get(bottom_refs[0]) if bottom_refs else None
            if source is not None:
                for ref in top_refs:
                    shown_by[ref] = source
                continue
        hosts = {shown_by[ref][0] for ref in bottom_refs if ref in shown_by}
        in_place = (bool(top_refs) and len(top_refs) == len(bottom_refs) and all(result.in_place)
                    and len(hosts) == 1 and len(bottom_refs) == sum(ref in shown_by for ref in bottom_refs))
        if in_place:
            host = hosts.pop()
            folded_into[result.index] = host
            for bottom, top in zip(bottom_refs, top_refs, strict=True):
                shown_by[top] = shown_by[bottom]
            continue
        visible.append(result.index)
        for j, ref in enumerate(bottom_refs):
            if ref not in shown_by:
                continue
            source_index, blob = shown_by[ref]
            shape = result.bottom_shapes[j] if j < len(result.bottom_shapes) else None
            writer = results[source_index]
            edges.append(DrawnEdge(source_index, result.index, blob, shape,
                                   blob != writer.name or len(writer.tops) > 1))
        for ref in top_refs:
            shown_by[ref] = (result.index, ref.name)
    folded: dict[int, list[tuple[str, str]]] = {}
    for index, host in folded_into.items():
        folded.setdefault(host, []).append((results[index].type, results[index].name))
    layers = []
    for index in visible:
        result = results[index]
        kind = result.replaced_type or result.type
        family = result_family(result, analysis.graph.layers[index].param)
        known = result.known and all(results[i].known for i, host in folded_into.items() if host == index)
        layers.append(DrawnLayer(index, result.name, kind, family,
                                 tuple(zip(result.tops, result.top_shapes, strict=True)),
                                 tuple(folded.get(index, ())), known))
    return Drawing(analysis.net_name, tuple(layers), tuple(edges),
                   sum(result.auto_split for result in results), len(folded_into))


def shape_label(shape: Shape | None) -> str:
    """'64×3×224×224'; a scalar (a loss) is 'scalar', an unknown shape '?'."""
    if shape is None:
        return "?"
    return "×".join(str(d) for d in shape) if shape else "scalar"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _html_text(text: str) -> str:
    """Text inside a Graphviz HTML-like label: XML-escaped, control characters dropped."""
    text = _CONTROL.sub("", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("\n", " ").replace("\t", " "))


def dot_quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, so that no escString sequence
    (\\n, \\N, \\G, …) of Graphviz is interpreted, and newlines kept out."""
    text = _CONTROL.sub("", text).replace("\n", " ").replace("\t", " ")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def node_id(index: int) -> str:
    return f"L{index}"


def _node_label(layer: DrawnLayer) -> str:
    rows = [f"<B>{_html_text(layer.name)}</B>", f'<FONT POINT-SIZE="9">{_html_text(layer.type)}</FONT>']
    rows += [f'<FONT POINT-SIZE="9">+ {_html_text(kind)} {_html_text(name)}</FONT>' for kind, name in layer.folded]
    if len(layer.tops) == 1:
        rows.append(f'<FONT POINT-SIZE="9">{_html_text(shape_label(layer.tops[0][1]))}</FONT>')
    else:
        rows += [f'<FONT POINT-SIZE="9">{_html_text(name)}: {_html_text(shape_label(shape))}</FONT>'
                 for name, shape in layer.tops]
    return "<" + "<BR/>".join(rows) + ">"


def _tooltip(layer: DrawnLayer) -> str:
    parts = [f"{layer.name} ({layer.type})"]
    parts += [f"+ {kind} {name} (in place)" for kind, name in layer.folded]
    parts += [f"top {name}: {shape_label(shape)}" for name, shape in layer.tops]
    return "; ".join(parts)


def to_dot(drawing: Drawing, *, direction: str = "TB") -> str:
    """Graphviz DOT text of the drawing; node ids are L<layer index>, every name is quoted."""
    lines = [f"digraph {dot_quote(drawing.net_name or 'net')} {{",
             f"  graph [rankdir={'LR' if direction == 'LR' else 'TB'}, fontname=\"Helvetica\", nodesep=0.3, "
             "ranksep=0.35];",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, color="#444444", '
             "margin=\"0.12,0.05\"];",
             '  edge [fontname="Helvetica", fontsize=9, color="#555555", fontcolor="#333333", arrowsize=0.7];']
    for layer in drawing.layers:
        style = "" if layer.known else ', style="rounded,filled,dashed", color="#cc0000"'
        lines.append(f"  {node_id(layer.index)} [id={dot_quote('layer-' + str(layer.index))}, "
                     f"label={_node_label(layer)}, fillcolor={dot_quote(FAMILY_COLOURS[layer.family])}, "
                     f"tooltip={dot_quote(_tooltip(layer))}{style}];")
    for edge in drawing.edges:
        label = shape_label(edge.shape)
        if edge.show_name:
            label = f"{edge.blob}: {label}"
        lines.append(f"  {node_id(edge.source)} -> {node_id(edge.target)} [label={dot_quote(' ' + label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def xml_safe(text: str) -> str:
    """Text that XML 1.0 can hold: control characters escaped, the two non-characters dropped."""
    return escape_controls(text).replace("\ufffe", "").replace("\uffff", "")


def to_graphml(drawing: Drawing) -> str:
    """GraphML through networkx's writer: one node per box, one edge per drawn blob (string and
    integer attributes only, so every GraphML reader takes it)."""
    import networkx as nx

    # XML 1.0 cannot hold most control characters, not even as character references: they are shown
    # as visible escapes (\x1b), so the file stays well-formed whatever the names hold.
    text = xml_safe
    graph = nx.MultiDiGraph(name=text(drawing.net_name))
    for layer in drawing.layers:
        graph.add_node(node_id(layer.index), name=text(layer.name), type=text(layer.type), family=layer.family,
                       index=layer.index, known=int(layer.known),
                       tops=text("; ".join(f"{name}: {shape_label(shape)}" for name, shape in layer.tops)),
                       folded=text("; ".join(f"{kind} {name}" for kind, name in layer.folded)))
    for edge in drawing.edges:
        graph.add_edge(node_id(edge.source), node_id(edge.target), blob=text(edge.blob),
                       shape=shape_label(edge.shape))
    return "\n".join(nx.generate_graphml(graph)) + "\n"


class MissingProgramError(BlobcalcError):
    """An external program we run (Graphviz's `dot`) is not installed."""

    def __init__(self, program: str, hint: str) -> None:
        self.program = program
        self.hint = hint
        super().__init__(f"the program '{program}' is not installed: {hint}")


class RenderError(BlobcalcError):
    """An external renderer ran but failed."""


GRAPHVIZ_HINT = ("Graphviz renders SVG and PNG; install it (Debian: apt-get install graphviz), "
                 "or write .dot or .graphml, which need no program")
RENDER_TIMEOUT_SECONDS = 300  # a 1,000-layer net lays out in seconds; this only stops a hung `dot`
# The report's graph is a bonus: a net whose layout would take long is left out, with a note. A
# 3,000-way fan-out into one Concat (6,000 edges) takes Graphviz half a minute to minutes.
REPORT_GRAPH_MAX_EDGES = 5_000
REPORT_GRAPH_SECONDS = 30


def render_graphviz(dot_text: str, output_format: str, program: str = "dot",
                    timeout: float = RENDER_TIMEOUT_SECONDS) -> bytes:
    """Run Graphviz on DOT text and return the rendered file (svg, png, …); a run longer than
    `timeout` seconds is killed (RenderError)."""
    executable = shutil.which(program)
    if executable is None:
        raise MissingProgramError(program, GRAPHVIZ_HINT)
    try:
        completed = subprocess.run([executable, f"-T{output_format}"], input=dot_text.encode("utf-8"),
                                   capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"{program} did not finish within {timeout:g} s (write .dot or .graphml to draw "
                          "it with another tool)") from None
    except OSError as exc:
        raise MissingProgramError(program, f"{exc.strerror or exc}; {GRAPHVIZ_HINT}") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"{program} -T{output_format} failed (exit {completed.returncode}): {message}")
    return completed.stdout


def graph_svg(analysis: NetAnalysis, max_edges: int = REPORT_GRAPH_MAX_EDGES,
              timeout: float = REPORT_GRAPH_SECONDS) -> tuple[str | None, str]:
    """(Graphviz's SVG of the net's layer graph, or None; a note saying why it is missing), for pages
    that show the graph when they can and still render without Graphviz. The time is bounded: a graph
    of more than `max_edges` edges is not laid out, and a layout longer than `timeout` seconds stops."""
    drawing = layer_drawing(analysis)
    if len(drawing.edges) > max_edges:
        return None, (f"The layer graph was left out: it has {len(drawing.edges):,} edges, more than the "
                      f"{max_edges:,} Graphviz lays out in reasonable time ('blobcalc graph NET -o net.dot' "
                      "writes it for other tools).")
    try:
        svg = render_graphviz(to_dot(drawing), "svg", timeout=timeout)
    except (MissingProgramError, RenderError) as exc:
        return None, f"The layer graph was left out: {exc}"
    return svg.decode("utf-8", "replace"), ""


def svg_for_inlining(svg: str) -> str:
    """Graphviz's SVG without its XML declaration, DOCTYPE and comments, ready to sit inside HTML."""
    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>", "", svg, flags=re.IGNORECASE)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.DOTALL)
    return svg.strip()
