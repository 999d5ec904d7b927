"""Benchmark of the analysis on very large generated nets: time and peak memory must grow linearly.

Four shapes of net, each at 1,000 / 10,000 / 100,000 layers:
- chain: Input, then conv 3x3 → ReLU (in place) → Pooling 3x3/1 (size-preserving) repeated;
- wide: blocks of 32 parallel 1x1 convolutions of one blob (a Split of 32 tops), a Concat of the 32,
  then a 1x1 convolution back to 16 channels, repeated;
- fanout: every layer reads the input (one Split with a top per layer; every top is a net output);
- dense: nameless in-place ReLUs of 36 bytes of text each, the most layers per byte (worst case for memory).

Each net is written to a file and analysed in a fresh Python process, stage by stage: read and parse; the
analysis alone (upgrade, graph, shapes; then released); `blobcalc.api.report()` (what `blobcalc analyze`
computes: parse, analysis, memory and compute reports); and the JSON output of `blobcalc analyze --format
json`, written to /dev/null. After each stage the child records its CPU time and its peak RSS
(resource.getrusage). The table shows time per layer (flat when the analysis is linear) and the peak RSS
growth over the RSS after imports, after each stage and over the file size.

    python3 benchmarks/bench_large_net.py [--sizes 1000,10000,100000] [--shapes chain,wide,fanout] [--dir DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
WIDE_BRANCHES = 32

_CHILD = r"""
import json, os, resource, sys, time
path = sys.argv[1]
from blobcalc.api import analyze_net, load_source, report
from blobcalc.parse import parse_net
import blobcalc.report
import blobcalc.shapes.builtin  # noqa: F401  (imports are not part of the analysis)
import blobcalc.report.json_report, blobcalc.memory  # noqa: F401
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
baseline = peak()
times, peaks = {}, {}
clock = time.process_time  # CPU seconds: other processes on the machine do not blur the scaling
start = clock()
source, text = load_source(path)
net = parse_net(text, source)
times["parse"], peaks["parse"] = clock() - start, peak()
del text
mark = clock()
analysis = analyze_net(net, source)
times["analysis"], peaks["analysis"] = clock() - mark, peak()
del net, analysis
mark, wall = clock(), time.perf_counter()
result = report(path)
times["report"], peaks["report"] = clock() - mark, peak()
mark = clock()
with open(os.devnull, "w", encoding="utf-8") as sink:  # as `blobcalc analyze --format json` writes it
    blobcalc.report.write_report(result, "json", sink)
times["json"], peaks["json"] = clock() - mark, peak()
times["wall"] = time.perf_counter() - wall
print(json.dumps({"times": times, "baseline_rss": baseline, "peaks": peaks, "layers": len(result.analysis.layers)}))
"""


def _layer(name: str, kind: str, bottoms: list[str], tops: list[str], params: str = "") -> str:
    lines = [f'layer {{\n  name: "{name}"\n  type: "{kind}"\n']
    lines += [f'  bottom: "{bottom}"\n' for bottom in bottoms]
    lines += [f'  top: "{top}"\n' for top in tops]
    if params:
        lines.append(f"  {params}\n")
    lines.append("}\n")
    return "".join(lines)


_INPUT = _layer("data", "Input", [], ["data"], "input_param { shape { dim: 1 dim: 16 dim: 8 dim: 8 } }")
_CONV3 = "convolution_param { num_output: 16 kernel_size: 3 pad: 1 }"
_CONV1 = "convolution_param { num_output: 16 kernel_size: 1 }"
_POOL = "pooling_param { pool: MAX kernel_size: 3 stride: 1 pad: 1 }"


def chain_net(layers: int) -> Iterator[str]:
    """Input then (conv, in-place relu, pool) until `layers` layers."""
    yield 'name: "chain"\n'
    yield _INPUT
    previous, count, i = "data", 1, 0
    while count < layers:
        conv, pool = f"conv{i}", f"pool{i}"
        yield _layer(conv, "Convolution", [previous], [conv], _CONV3)
        yield _layer(f"relu{i}", "ReLU", [conv], [conv])
        yield _layer(pool, "Pooling", [conv], [pool], _POOL)
        previous, count, i = pool, count + 3, i + 1


def wide_net(layers: int) -> Iterator[str]:
    """Input then blocks of WIDE_BRANCHES parallel 1x1 convs, their Concat and a 1x1 conv."""
    yield 'name: "wide"\n'
    yield _INPUT
    previous, count, block = "data", 1, 0
    while count < layers:
        branches = [f"b{block}_{j}" for j in range(WIDE_BRANCHES)]
        for branch in branches:
            yield _layer(branch, "Convolution", [previous], [branch], _CONV1)
        yield _layer(f"cat{block}", "Concat", branches, [f"cat{block}"])
        yield _layer(f"mix{block}", "Convolution", [f"cat{block}"], [f"mix{block}"], _CONV1)
        previous, count, block = f"mix{block}", count + WIDE_BRANCHES + 2, block + 1


def fanout_net(layers: int) -> Iterator[str]:
    """Input then `layers - 1` ReLUs all reading it: one Split of that many tops, every ReLU top a net
    output (this shape once exposed a quadratic step: a tuple of output names searched per top)."""
    yield 'name: "fanout"\n'
    yield _INPUT
    for i in range(1, layers):
        yield _layer(f"relu{i}", "ReLU", ["data"], [f"relu{i}"])


def dense_net(layers: int) -> Iterator[str]:
    """The most layers per byte of text a net can have: Input, then nameless in-place ReLUs written on one
    short line each (36 bytes) — the worst case for memory over file size."""
    yield _INPUT
    for _ in range(1, layers):
        yield 'layer{type:"ReLU"bottom:"data"top:"data"}\n'


NETS = {"chain": chain_net, "wide": wide_net, "fanout": fanout_net, "dense": dense_net}


def run_one(path: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, env=env,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"analysis of {path} failed:\n{done.stderr}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# The bounds this benchmark holds the analysis to (issue #5): peak memory growth at most this multiple of
# the prototxt's size, and time per layer at the largest size at most this multiple of the smallest's
# (linear scaling; the slack covers cache effects and a shared machine).
MAX_GROWTH_PER_FILE_BYTE = 100
MAX_TIME_PER_LAYER_RATIO = 3.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="layer counts (comma-separated)")
    parser.add_argument("--shapes", default=",".join(NETS), help=f"net shapes: {', '.join(NETS)}")
    parser.add_argument("--dir", help="write the nets here (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="blobcalc-bench-") as scratch:
        folder = Path(args.dir or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        header = (f"{'net':<6} {'layers':>7} {'file MB':>8} {'parse s':>8} {'analysis s':>10} {'report s':>9} "
                  f"{'json s':>7} {'total s':>8} {'us/layer':>9} {'wall s':>7} {'MB parse':>9} {'analysis':>9} "
                  f"{'report':>7} {'json':>7} {'growth/file':>11}")
        print(header)
        print("-" * len(header))
        failures: list[str] = []
        for shape in args.shapes.split(","):
            per_layer: list[float] = []
            for size in sizes:
                path = folder / f"{shape}-{size}.prototxt"
                with open(path, "w", encoding="utf-8") as handle:
                    handle.writelines(NETS[shape](size))
                file_bytes = path.stat().st_size
                result = run_one(path)
                times, peaks = result["times"], result["peaks"]
                assert isinstance(times, dict) and isinstance(peaks, dict)
                layers = int(str(result["layers"]))
                # `report` redoes the parse and analysis, then builds the memory and compute reports.
                total = times["report"] + times["json"]
                growth = {stage: (peaks[stage] - int(str(result["baseline_rss"]))) / 2**20 for stage in peaks}
                print(f"{shape:<6} {layers:>7} {file_bytes / 1e6:>8.2f} {times['parse']:>8.2f} "
                      f"{times['analysis']:>10.2f} {times['report']:>9.2f} {times['json']:>7.2f} {total:>8.2f} "
                      f"{1e6 * total / layers:>9.1f} {times['wall']:>7.2f} {growth['parse']:>9.1f} "
                      f"{growth['analysis']:>9.1f} {growth['report']:>7.1f} {growth['json']:>7.1f} "
                      f"{growth['json'] * 2**20 / file_bytes:>11.1f}", flush=True)
                if not args.dir:
                    path.unlink()
                per_layer.append(total / layers)
                ratio = growth["json"] * 2**20 / file_bytes
                if ratio > MAX_GROWTH_PER_FILE_BYTE:
                    failures.append(f"{shape} {layers}: memory grew {ratio:.1f}x the file size "
                                    f"(bound {MAX_GROWTH_PER_FILE_BYTE}x)")
            if len(per_layer) > 1 and per_layer[-1] > MAX_TIME_PER_LAYER_RATIO * per_layer[0]:
                failures.append(f"{shape}: {per_layer[-1] / per_layer[0]:.1f}x the time per layer at {sizes[-1]} "
                                f"layers as at {sizes[0]} (bound {MAX_TIME_PER_LAYER_RATIO}x)")
    print("\nlayers: of the built net (Caffe's inserted Split layers included). Times are CPU seconds: parse, "
          "analysis (upgrade, graph, shapes) alone, then report = all of `blobcalc analyze` but the output (parse, "
          "analysis, memory, compute) and json = its JSON output; total s = report + json; us/layer should stay "
          "flat as the nets grow; wall s = wall time of report + json. MB: the peak RSS growth over the RSS after "
          "imports, as it stands after each stage (the parsed net and the analysis are released before report); "
          "growth/file: the final peak growth over the prototxt's size.")
    print(f"bounds: growth/file at most {MAX_GROWTH_PER_FILE_BYTE}x; us/layer at the largest size at most "
          f"{MAX_TIME_PER_LAYER_RATIO}x the smallest's")
    for failure in failures:
        print(f"OVER BOUND: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
