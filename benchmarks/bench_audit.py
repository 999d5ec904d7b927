"""Benchmark of `blobcalc audit` on a VGG-16-sized weights file (~553 MB of float32, V2 layers).

Writes a VGG-16 deploy prototxt and a matching synthetic .caffemodel with our schema, streaming the
float payload to disk in 4 MiB pieces so that the generator stays small, then audits it in a fresh
Python process and prints the wall time and the peak RSS (resource.getrusage) of that process.

    python3 benchmarks/bench_audit.py [--dir DIR] [--keep] [--compare-full-parse]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from blobcalc import caffe_pb2

CHUNK_BYTES = 4 << 20
FLOAT_BYTES = 4

# VGG-16 (Simonyan & Zisserman, configuration D): (name, kind, num_output); pools between blocks.
VGG16: tuple[tuple[str, str, int], ...] = (
    ("conv1_1", "conv", 64), ("conv1_2", "conv", 64), ("pool1", "pool", 0),
    ("conv2_1", "conv", 128), ("conv2_2", "conv", 128), ("pool2", "pool", 0),
    ("conv3_1", "conv", 256), ("conv3_2", "conv", 256), ("conv3_3", "conv", 256), ("pool3", "pool", 0),
    ("conv4_1", "conv", 512), ("conv4_2", "conv", 512), ("conv4_3", "conv", 512), ("pool4", "pool", 0),
    ("conv5_1", "conv", 512), ("conv5_2", "conv", 512), ("conv5_3", "conv", 512), ("pool5", "pool", 0),
    ("fc6", "fc", 4096), ("fc7", "fc", 4096), ("fc8", "fc", 1000),
)


def vgg16_net() -> caffe_pb2.NetParameter:
    """The deploy net, with each layer's parameter blob shapes filled in as a caffemodel stores them."""
    net = caffe_pb2.NetParameter(name="VGG_ILSVRC_16_layers")
    data = net.layer.add(name="data", type="Input", top=["data"])
    data.input_param.shape.add().dim.extend([1, 3, 224, 224])
    bottom, channels, side = "data", 3, 224
    for name, kind, outputs in VGG16:
        if kind == "conv":
            layer = net.layer.add(name=name, type="Convolution", bottom=[bottom], top=[name])
            layer.convolution_param.num_output = outputs
            layer.convolution_param.pad.append(1)
            layer.convolution_param.kernel_size.append(3)
            layer.blobs.add().shape.dim.extend([outputs, channels, 3, 3])
            layer.blobs.add().shape.dim.extend([outputs])
            net.layer.add(name=name.replace("conv", "relu"), type="ReLU", bottom=[name], top=[name])
            channels = outputs
        elif kind == "pool":
            layer = net.layer.add(name=name, type="Pooling", bottom=[bottom], top=[name])
            layer.pooling_param.pool = caffe_pb2.PoolingParameter.MAX
            layer.pooling_param.kernel_size = 2
            layer.pooling_param.stride = 2
            side //= 2
        else:
            layer = net.layer.add(name=name, type="InnerProduct", bottom=[bottom], top=[name])
            layer.inner_product_param.num_output = outputs
            layer.blobs.add().shape.dim.extend([outputs, channels * side * side])
            layer.blobs.add().shape.dim.extend([outputs])
            channels, side = outputs, 1
            if name != "fc8":
                net.layer.add(name=name.replace("fc", "relu"), type="ReLU", bottom=[name], top=[name])
        bottom = name
    net.layer.add(name="prob", type="Softmax", bottom=["fc8"], top=["prob"])
    return net


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _len_header(field: int, length: int) -> bytes:
    return _varint(field << 3 | 2) + _varint(length)


def _count(blob: caffe_pb2.BlobProto) -> int:
    count = 1
    for dim in blob.shape.dim:
        count *= dim
    return count


def caffemodel_pieces(net: caffe_pb2.NetParameter) -> Iterator[bytes]:
    """The serialized NetParameter, each blob's `data` filled with zeros, in small pieces."""
    head = caffe_pb2.NetParameter(name=net.name)
    yield head.SerializeToString()
    for layer in net.layer:
        bare = caffe_pb2.LayerParameter()
        bare.CopyFrom(layer)
        bare.ClearField("blobs")
        blob_parts = []
        for blob in layer.blobs:
            blob_head = blob.SerializeToString() + _len_header(5, FLOAT_BYTES * _count(blob))
            blob_parts.append((blob_head, FLOAT_BYTES * _count(blob)))
        layer_bytes = bare.SerializeToString()
        layer_length = len(layer_bytes) + sum(
            len(_len_header(7, len(h) + n)) + len(h) + n for h, n in blob_parts)
        yield _len_header(100, layer_length) + layer_bytes
        for blob_head, payload in blob_parts:
            yield _len_header(7, len(blob_head) + payload) + blob_head
            zeros = bytes(min(CHUNK_BYTES, payload))
            for _ in range(payload // CHUNK_BYTES):
                yield zeros
            yield zeros[:payload % CHUNK_BYTES]


def write_files(directory: Path) -> tuple[Path, Path]:
    net = vgg16_net()
    deploy = caffe_pb2.NetParameter()
    deploy.CopyFrom(net)
    for layer in deploy.layer:
        layer.ClearField("blobs")
    from google.protobuf import text_format

    prototxt = directory / "vgg16_deploy.prototxt"
    prototxt.write_text(text_format.MessageToString(deploy))
    model = directory / "vgg16.caffemodel"
    with open(model, "wb") as handle:
        for piece in caffemodel_pieces(net):
            handle.write(piece)
    return prototxt, model


def peak_rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def child_audit(prototxt: str, model: str) -> dict[str, float | int | str]:
    """Run in a fresh process: import, then time the audit the CLI does (analysis, read, compare, render)."""
    from blobcalc.api import analyze
    from blobcalc.audit import audit
    from blobcalc.report.audit_report import render_table
    from blobcalc.weights import read_weights

    rss_after_imports = peak_rss_bytes()
    start = time.perf_counter()
    result = audit(analyze(prototxt), read_weights(model))
    table = render_table(result)
    wall = time.perf_counter() - start
    return {"wall_seconds": wall, "peak_rss_bytes": peak_rss_bytes(), "rss_after_imports": rss_after_imports,
            "verdict": table.rstrip().splitlines()[-1], "params": result.weights_param_count}


def child_full_parse(model: str) -> dict[str, float | int | str]:
    """For comparison: what reading the same file with full protobuf parsing costs."""
    rss_after_imports = peak_rss_bytes()
    start = time.perf_counter()
    with open(model, "rb") as handle:
        net = caffe_pb2.NetParameter.FromString(handle.read())
    wall = time.perf_counter() - start
    return {"wall_seconds": wall, "peak_rss_bytes": peak_rss_bytes(), "rss_after_imports": rss_after_imports,
            "verdict": f"{len(net.layer)} layers parsed", "params": 0}


def run_child(*args: str) -> dict[str, float | int | str]:
    completed = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    result: dict[str, float | int | str] = json.loads(completed.stdout)
    return result


def mib(count: float) -> str:
    return f"{count / (1 << 20):,.1f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", help="where to write the files (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--compare-full-parse", action="store_true",
                        help="also time protobuf's full parse of the same file (needs ~2x its size in RAM)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *paths = args.child
        print(json.dumps(child_audit(*paths) if mode == "audit" else child_full_parse(*paths)))
        return 0
    directory = Path(args.dir or tempfile.mkdtemp(prefix="bench_audit_"))
    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    prototxt, model = write_files(directory)
    size = model.stat().st_size
    print(f"wrote {model} ({size:,} bytes, {mib(size)}) in {time.perf_counter() - start:.1f} s; "
          f"generator peak RSS {mib(peak_rss_bytes())}")
    runs = [("audit", run_child("--child", "audit", str(prototxt), str(model)))]
    if args.compare_full_parse:
        runs.append(("full protobuf parse", run_child("--child", "full", str(model))))
    for label, figures in runs:
        print(f"{label}: wall {float(figures['wall_seconds']):.3f} s, peak RSS "
              f"{mib(float(figures['peak_rss_bytes']))} (after imports {mib(float(figures['rss_after_imports']))})"
              f", {figures['verdict']}")
    if not args.keep:
        for path in (prototxt, model):
            os.unlink(path)
        if not args.dir:
            directory.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
