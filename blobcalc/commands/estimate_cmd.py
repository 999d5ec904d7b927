"""`blobcalc estimate`: the seed method from bare counts, exactly as the source document states it."""
from __future__ import annotations

import argparse
import sys

from blobcalc.commands import Command
from blobcalc.errors import UsageError
from blobcalc.memory import SeedEstimate
from blobcalc.units import format_bytes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--activations", type=int, required=True, help="layer outputs per image (elements)")
    parser.add_argument("--params", type=int, required=True, help="weights and biases (elements)")
    parser.add_argument("--input-elements", type=int, required=True, help="input elements per image")
    parser.add_argument("--batch", type=int, required=True, help="images per batch")
    parser.add_argument("--units", choices=("MiB", "MB", "GiB", "GB", "B"), default="MiB")


def run(args: argparse.Namespace) -> int:
    if min(args.activations, args.params, args.input_elements) < 0 or args.batch <= 0:
        raise UsageError("counts must not be negative and the batch must be positive")
    seed = SeedEstimate(args.activations, args.params, args.input_elements, args.batch)
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
