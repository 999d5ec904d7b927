"""`blobcalc estimate`: the seed method from bare counts, exactly as the source document states it."""
from __future__ import annotations

import argparse
import math
import re
import sys

from blobcalc.commands import Command
from blobcalc.errors import UsageError
from blobcalc.memory import SeedEstimate
from blobcalc.units import UNIT_BYTES, format_bytes

INT_MAX = 2**31 - 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--activations", type=int, required=True, help="layer outputs per image (elements)")
    parser.add_argument("--params", type=int, required=True, help="weights and biases (elements)")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--input-elements", type=int, help="input elements per image")
    given.add_argument("--input-shape", metavar="AxBxC",
                       help="the shape of one input image, e.g. 180x50x1 (its elements are multiplied)")
    parser.add_argument("--batch", type=int, required=True, help="images per batch")
    parser.add_argument("--units", choices=tuple(UNIT_BYTES), default="MiB",
                        help="unit of the figures (KiB/MiB/GiB are powers of 1024, KB/MB/GB of 1000)")


def input_elements(shape: str) -> int:
    """'180x50x1' (or with ',' or '×') → 9000."""
    dims = re.split(r"\s*[x×,]\s*", shape.strip().lower())
    if not all(dim.isdigit() for dim in dims):
        raise UsageError(f"--input-shape takes dimensions like 180x50x1, not {shape!r}")
    return math.prod(int(dim) for dim in dims)


def run(args: argparse.Namespace) -> int:
    elements = args.input_elements if args.input_shape is None else input_elements(args.input_shape)
    if min(args.activations, args.params, elements) < 0 or args.batch <= 0:
        raise UsageError("counts must not be negative and the batch must be positive")
    if args.batch > INT_MAX:
        # The batch is a blob's first dim, an int in Caffe (Blob::Reshape takes vector<int>).
        raise UsageError(f"--batch {args.batch:,} is over Caffe's INT_MAX ({INT_MAX:,}): no blob can have it")
    seed = SeedEstimate(args.activations, args.params, elements, args.batch)
    unit = args.units
    sys.stdout.write(
        "seed method (4 bytes per value):\n"
        f"  activations per image, x2 for their errors: {format_bytes(seed.activation_bytes_per_image, unit)}"
        f"  ({seed.activation_bytes_per_image:,} B)\n"
        f"  parameters, x3 for gradients and momentum:  {format_bytes(seed.param_bytes, unit)}"
        f"  ({seed.param_bytes:,} B)\n"
        f"  miscellaneous, input x batch:               {format_bytes(seed.misc_bytes, unit)}"
        f"  ({seed.misc_bytes:,} B)\n"
        f"  training total at batch {seed.batch}: {format_bytes(seed.training_bytes, unit)}"
        f"  ({seed.training_bytes:,} B)\n"
        f"  inference, one image: {format_bytes(seed.inference_bytes, unit)}  ({seed.inference_bytes:,} B)\n")
    return 0


COMMAND = Command("estimate", add_arguments, run, "the seed method's memory estimate from bare counts")
