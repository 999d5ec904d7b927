"""The built net: Caffe's split insertion, automatic tops, and a networkx DAG of layers and blob versions.

Caffe's Net::Init wires layers in file order; we follow the same order and the same checks
(insert_splits.cpp, net.cpp AppendBottom/AppendTop). An in-place top becomes a new version of its
blob (`relu1` writes `conv1@1`), which keeps the graph acyclic.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import networkx as nx

from blobcalc import caffe_pb2
from blobcalc.errors import GraphError

AUTOMATIC_TOP = "(automatic)"


@dataclass(frozen=True, slots=True)
class BlobRef:
    """One version of a named blob: version 0 is its first writer, each in-place write adds one."""

    name: str
    version: int

    def __str__(self) -> str:
        return self.name if self.version == 0 else f"{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class NetLayer:
    """A layer of the built net, in Caffe's order, Split layers Caffe inserts included."""

    index: int
    param: caffe_pb2.LayerParameter
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    bottom_refs: tuple[BlobRef, ...]
    top_refs: tuple[BlobRef, ...]
    in_place: tuple[bool, ...]  # per top: it overwrites the bottom at the same index
    auto_split: bool

    @property
    def name(self) -> str:
        return str(self.param.name)

    @property
    def type(self) -> str:
        return str(self.param.type)


@dataclass(frozen=True, slots=True)
class NetGraph:
    layers: tuple[NetLayer, ...]
    dag: nx.DiGraph  # nodes: ("layer", index) and BlobRef; edges blob→reader, writer→blob
    input_blobs: tuple[str, ...]
    output_blobs: tuple[str, ...]


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
                      f"needs bottom '{blob}' (bottom index {bottom_index}), {where}")


def insert_splits(layers: Sequence[caffe_pb2.LayerParameter]) -> list[tuple[caffe_pb2.LayerParameter, bool]]:
    """insert_splits.cpp: a top read by several layers (or read once and also weighted as a loss)
    gets a Split layer after its writer, one copy per reader. Returns (layer, auto_split) pairs."""
    last_writer: dict[str, tuple[int, int]] = {}
    source_of_bottom: dict[tuple[int, int], tuple[int, int]] = {}
    readers: dict[tuple[int, int], int] = {}
    loss_weight_of: dict[tuple[int, int], float] = {}
    for i, layer in enumerate(layers):
        for j, blob in enumerate(layer.bottom):
            if blob not in last_writer:
                raise _unknown_bottom(layers, i, j)
            source = last_writer[blob]
            source_of_bottom[(i, j)] = source
            readers[source] = readers.get(source, 0) + 1
        for j, blob in enumerate(layer.top):
            last_writer[blob] = (i, j)
        # A top used as a loss counts as one more reader (insert_splits.cpp).
        for j in range(min(len(layer.loss_weight), len(layer.top))):
            source = last_writer[layer.top[j]]
            loss_weight_of[source] = layer.loss_weight[j]
            if layer.loss_weight[j]:
                readers[source] = readers.get(source, 0) + 1

    next_split_index: dict[tuple[int, int], int] = {}
    result: list[tuple[caffe_pb2.LayerParameter, bool]] = []
    for i, layer in enumerate(layers):
        copy = caffe_pb2.LayerParameter()
        copy.CopyFrom(layer)
        for j, blob in enumerate(layer.bottom):
            source = source_of_bottom[(i, j)]
            if readers[source] > 1:
                split_index = next_split_index.get(source, 0)
                next_split_index[source] = split_index + 1
                copy.bottom[j] = split_blob_name(layers[source[0]].name, blob, source[1], split_index)
        result.append((copy, False))
        for j, blob in enumerate(layer.top):
            reader_count = readers.get((i, j), 0)
            if reader_count > 1:
                split = caffe_pb2.LayerParameter(name=split_layer_name(layer.name, blob, j), type="Split")
                split.bottom.append(blob)
                loss_weight = loss_weight_of.get((i, j), 0.0)
                for k in range(reader_count):
                    split.top.append(split_blob_name(layer.name, blob, j, k))
                    if loss_weight:
                        split.loss_weight.append(loss_weight if k == 0 else 0.0)
                split.phase = copy.phase
                result.append((split, True))
    return result


def build_graph(layers: Sequence[caffe_pb2.LayerParameter],
                auto_top_count: Callable[[caffe_pb2.LayerParameter], int]) -> NetGraph:
    """Wire the filtered layers as Net::Init does; `auto_top_count` says how many tops a layer
    must have when Caffe creates anonymous ones (AutoTopBlobs)."""
    dag = nx.DiGraph()
    net_layers: list[NetLayer] = []
    available: dict[str, BlobRef] = {}  # Net::Init's available_blobs, with our versions
    seen_names: set[str] = set()  # Net::Init's blob_name_to_idx
    versions: dict[str, int] = {}
    input_blobs: list[str] = []
    for index, (param, auto_split) in enumerate(insert_splits(layers)):
        layer_node = ("layer", index)
        dag.add_node(layer_node, name=param.name, type=param.type)
        bottom_refs: list[BlobRef] = []
        for j, blob in enumerate(param.bottom):
            ref = available.pop(blob, None)
            if ref is None:
                raise GraphError(param.name, param.type,
                                 f"bottom '{blob}' (bottom index {j}) was already consumed by an earlier "
                                 "layer (Caffe: unknown bottom blob)")
            bottom_refs.append(ref)
            dag.add_edge(ref, layer_node, index=j)
        tops = list(param.top)
        needed = auto_top_count(param)
        tops += [AUTOMATIC_TOP] * max(0, needed - len(tops))
        top_refs: list[BlobRef] = []
        in_place: list[bool] = []
        for j, blob in enumerate(tops):
            if blob == AUTOMATIC_TOP and j >= len(param.top):
                ref = BlobRef(f"{AUTOMATIC_TOP}#{index}.{j}", 0)
                in_place.append(False)
            elif j < len(param.bottom) and param.bottom[j] == blob:
                ref = BlobRef(blob, versions[blob] + 1)
                in_place.append(True)
            else:
                if blob in seen_names:
                    raise GraphError(param.name, param.type,
                                     f"top '{blob}' is produced by multiple sources (Caffe refuses a top "
                                     "name that an earlier layer wrote, unless it is in place)")
                ref = BlobRef(blob, 0)
                in_place.append(False)
            versions[ref.name] = ref.version
            if blob != AUTOMATIC_TOP or j < len(param.top):
                seen_names.add(blob)
                available[blob] = ref
            top_refs.append(ref)
            dag.add_edge(layer_node, ref, index=j)
            if param.type == "Input":
                input_blobs.append(blob)
        net_layers.append(NetLayer(index, param, tuple(param.bottom), tuple(tops), tuple(bottom_refs),
                                   tuple(top_refs), tuple(in_place), auto_split))
    return NetGraph(tuple(net_layers), dag, tuple(input_blobs), tuple(sorted(available)))
