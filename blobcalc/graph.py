"""The built net: Caffe's split insertion, automatic tops, and a networkx DAG of layers and blob versions.

Caffe's Net::Init wires layers in file order; we follow the same order and the same checks
(insert_splits.cpp, net.cpp AppendBottom/AppendTop). An in-place top becomes a new version of its
blob (`relu1` writes `conv1@1`), which keeps the graph acyclic.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from blobcalc import caffe_pb2
from blobcalc.errors import GraphError

AUTOMATIC_TOP = "(automatic)"


class BlobRef(NamedTuple):
    """One version of a named blob: version 0 is its first writer, each in-place write adds one.
    (A named tuple: blob versions are hashed a great deal, and tuples hash in C.)"""

    name: str
    version: int

    def __str__(self) -> str:
        return self.name if self.version == 0 else f"{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class NetLayer:
    """A layer of the built net, in Caffe's order, Split layers Caffe inserts included. `param` is
    the layer as written (never modified); `bottoms` are the names Caffe wires after split insertion."""

    index: int
    param: caffe_pb2.LayerParameter
    name: str
    type: str
    phase: int  # the phase the layer runs in
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    bottom_refs: tuple[BlobRef, ...]
    top_refs: tuple[BlobRef, ...]
    in_place: tuple[bool, ...]  # per top: it overwrites the bottom at the same index
    auto_split: bool


@dataclass(frozen=True, slots=True)
class _Wired:
    """A layer after split insertion: its parameters, phase, the bottom names it reads and the tops it
    declares (the same string objects wherever a name recurs: a wide net has many)."""

    param: caffe_pb2.LayerParameter
    phase: int
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    auto_split: bool


@dataclass(frozen=True, slots=True)
class NetGraph:
    layers: tuple[NetLayer, ...]
    input_blobs: tuple[str, ...]
    output_blobs: tuple[str, ...]


def to_networkx(graph: NetGraph) -> Any:
    """The layer DAG as a networkx DiGraph: nodes ("layer", index) and BlobRef (one per blob
    version); edges blob → reading layer and layer → written blob, with the bottom/top index.
    Built on demand (drawing, exports): the analysis itself walks the layers in Caffe's order."""
    import networkx as nx

    dag = nx.DiGraph()
    for layer in graph.layers:
        node = ("layer", layer.index)
        dag.add_node(node, name=layer.name, type=layer.type)
        for j, ref in enumerate(layer.bottom_refs):
            dag.add_edge(ref, node, index=j)
        for j, ref in enumerate(layer.top_refs):
            dag.add_edge(node, ref, index=j)
    return dag


def split_layer_name(layer_name: str, blob_name: str, top_index: int) -> str:
    return f"{blob_name}_{layer_name}_{top_index}_split"


def split_blob_name(layer_name: str, blob_name: str, top_index: int, split_index: int) -> str:
    return f"{split_layer_name(layer_name, blob_name, top_index)}_{split_index}"


def _unknown_bottom(layers: Sequence[caffe_pb2.LayerParameter], index: int, bottom_index: int) -> GraphError:
    layer = layers[index]
    blob = layer.bottom[bottom_index]
    later = next((other.name for other in layers[index + 1:] if blob in other.top), None)
    where = (f"which is only produced later, by layer '{later}' (Caffe builds layers in file order)"
             if later is not None else "which no earlier layer produces")
    return GraphError(layer.name, layer.type,
                      f"needs bottom '{blob}' (bottom index {bottom_index}), {where}",
                      missing_bottom=blob if later is None else "")


def insert_splits(phased: Sequence[tuple[caffe_pb2.LayerParameter, int]]) -> list[_Wired]:
    """insert_splits.cpp: a top read by several layers (or read once and also weighted as a loss)
    gets a Split layer after its writer, one copy per reader, and the readers' bottoms are renamed."""
    layers = [layer for layer, _ in phased]
    # Each repeated field read once (a protobuf container read costs more than the loops below).
    all_bottoms = [layer.bottom[:] for layer in layers]
    all_tops = [layer.top[:] for layer in layers]
    last_writer: dict[str, tuple[int, int]] = {}
    source_of_bottom: dict[tuple[int, int], tuple[int, int]] = {}
    readers: dict[tuple[int, int], int] = {}
    loss_weight_of: dict[tuple[int, int], float] = {}
    for i, layer in enumerate(layers):
        for j, blob in enumerate(all_bottoms[i]):
            source = last_writer.get(blob)
            if source is None:
                raise _unknown_bottom(layers, i, j)
            source_of_bottom[(i, j)] = source
            readers[source] = readers.get(source, 0) + 1
        tops = all_tops[i]
        for j, blob in enumerate(tops):
            last_writer[blob] = (i, j)
        # A top used as a loss counts as one more reader (insert_splits.cpp).
        if layer.loss_weight:
            weights = layer.loss_weight[:]
            for j in range(min(len(weights), len(tops))):
                source = last_writer[tops[j]]
                loss_weight_of[source] = weights[j]
                if weights[j]:
                    readers[source] = readers.get(source, 0) + 1

    next_split_index: dict[tuple[int, int], int] = {}
    split_tops: dict[tuple[int, int], list[str]] = {}  # the tops of the Split after each shared top
    result: list[_Wired] = []
    for i, (layer, phase) in enumerate(phased):
        bottoms = all_bottoms[i]
        for j in range(len(bottoms)):
            source = source_of_bottom[(i, j)]
            if readers[source] > 1:
                split_index = next_split_index.get(source, 0)
                next_split_index[source] = split_index + 1
                bottoms[j] = split_tops[source][split_index]
        result.append(_Wired(layer, phase, tuple(bottoms), tuple(all_tops[i]), False))
        for j, blob in enumerate(all_tops[i]):
            reader_count = readers.get((i, j), 0)
            if reader_count > 1:
                name = layer.name
                loss_weight = loss_weight_of.get((i, j), 0.0)
                tops = split_tops[(i, j)] = [split_blob_name(name, blob, j, k) for k in range(reader_count)]
                split = caffe_pb2.LayerParameter(
                    name=split_layer_name(name, blob, j), type="Split", bottom=(blob,), top=tops,
                    loss_weight=[loss_weight] + [0.0] * (reader_count - 1) if loss_weight else ())
                result.append(_Wired(split, phase, (blob,), tuple(tops), True))
    return result


def build_graph(layers: Sequence[tuple[caffe_pb2.LayerParameter, int]],
                auto_top_count: Callable[[caffe_pb2.LayerParameter], int]) -> NetGraph:
    """Wire the filtered layers as Net::Init does; `auto_top_count` says how many tops a layer
    must have when Caffe creates anonymous ones (AutoTopBlobs)."""
    net_layers: list[NetLayer] = []
    available: dict[str, BlobRef] = {}  # Net::Init's available_blobs, with our versions
    seen_names: set[str] = set()  # Net::Init's blob_name_to_idx
    versions: dict[str, int] = {}
    input_blobs: list[str] = []
    for index, wired in enumerate(insert_splits(layers)):
        param = wired.param
        name, kind = param.name, sys.intern(param.type)  # one string per type, not per layer
        bottoms = wired.bottoms
        declared_tops = wired.tops
        bottom_refs: list[BlobRef] = []
        for j, blob in enumerate(bottoms):
            ref = available.pop(blob, None)
            if ref is None:
                raise GraphError(name, kind,
                                 f"bottom '{blob}' (bottom index {j}) was already consumed by an earlier "
                                 "layer (Caffe: unknown bottom blob)")
            bottom_refs.append(ref)
        tops = list(declared_tops)
        needed = auto_top_count(param)
        tops += [AUTOMATIC_TOP] * max(0, needed - len(tops))
        top_refs: list[BlobRef] = []
        in_place: list[bool] = []
        for j, blob in enumerate(tops):
            if j >= len(declared_tops):
                ref = BlobRef(f"{AUTOMATIC_TOP}#{index}.{j}", 0)
                in_place.append(False)
            elif j < len(bottoms) and bottoms[j] == blob:
                ref = BlobRef(blob, versions[blob] + 1)
                in_place.append(True)
            else:
                if blob in seen_names:
                    raise GraphError(name, kind,
                                     f"top '{blob}' is produced by multiple sources (Caffe refuses a top "
                                     "name that an earlier layer wrote, unless it is in place)")
                ref = BlobRef(blob, 0)
                in_place.append(False)
            versions[ref.name] = ref.version
            if j < len(declared_tops):
                seen_names.add(blob)
                available[blob] = ref
            top_refs.append(ref)
            if kind == "Input":
                input_blobs.append(blob)
        net_layers.append(NetLayer(index, param, name, kind, wired.phase, bottoms, tuple(tops),
                                   tuple(bottom_refs), tuple(top_refs), tuple(in_place), wired.auto_split))
    return NetGraph(tuple(net_layers), tuple(input_blobs), tuple(sorted(available)))
