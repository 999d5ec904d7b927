"""Options shared by several subcommands (net state, input shapes) and their parsing."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from blobcalc.errors import UsageError
from blobcalc.memory import DEFAULT_ENGINE, DTYPE_BYTES, ENGINES
from blobcalc.shapes.registry import Shape
from blobcalc.units import UNIT_BYTES

# The NET argument of every command that analyses a net, described once.
NET_HELP = "a .prototxt net (V0, V1 or V2), or a solver (its train net is analysed); '-' reads standard input"
NET_OR_SOLVER_HELP = NET_HELP + "; optional with --solver, which then names the net"


def parse_shape_option(text: str, option: str) -> tuple[str, Shape]:
    """'data=1,3,224,224' → ('data', (1, 3, 224, 224)); an empty shape after '=' is a scalar."""
    name, sep, dims = text.partition("=")
    if not sep or not name:
        raise UsageError(f"{option} takes NAME=d0,d1,... (got {text!r})")
    try:
        shape = tuple(int(d) for d in dims.split(",")) if dims.strip() else ()
    except ValueError:
        raise UsageError(f"{option} {text!r}: dimensions must be whole numbers separated by commas") from None
    if any(d < 0 for d in shape):
        raise UsageError(f"{option} {text!r}: dimensions cannot be negative")
    return name, shape


def shape_map(values: Sequence[str] | None, option: str) -> dict[str, Shape]:
    return dict(parse_shape_option(v, option) for v in values or ())


def add_net_options(parser: argparse.ArgumentParser, phase_default: str | None = None, batch: bool = True) -> None:
    """--phase/--level/--stage/--batch/--input-shape/--top-shape, as `analyze` takes them; without
    `batch` no --batch (for a command that chooses the batch itself)."""
    parser.add_argument("--phase", choices=("TRAIN", "TEST"), default=phase_default,
                        help="which layers to keep, by their include/exclude rules (default TEST, or TRAIN "
                             "when only TRAIN builds, said in a notice; TRAIN for a solver's train net)")
    parser.add_argument("--level", type=int, default=0, help="net state level (default 0)")
    parser.add_argument("--stage", action="append", default=[], help="net state stage (repeatable)")
    if batch:
        parser.add_argument("--batch", type=int, help="set the first dimension of every input")
    parser.add_argument("--input-shape", action="append", metavar="TOP=d0,d1,...",
                        help="shape of an input or data layer top (repeatable); a data layer whose "
                             "tops are all given becomes an Input layer")
    parser.add_argument("--datum-shape", action="append", metavar="LAYER=C,H,W",
                        help="the record size (C,H,W) of a database data layer's LMDB/LevelDB: the layer "
                             "stays a data layer (prefetch batches, crop_size, mean_file) (repeatable)")
    parser.add_argument("--top-shape", action="append", metavar="BLOB=d0,d1,...",
                        help="shape of a top no rule can infer, e.g. of a Python layer (repeatable)")
    parser.add_argument("--rois", type=int, metavar="N",
                        help="size detection heads for N regions: the proposal layers' RoI tops get N rows "
                             "(default: the 1 row their setup() gives at net construction, as Caffe reports)")
    parser.add_argument("--proto", metavar="FORK.proto",
                        help="read the net with this fork's caffe.proto (compiled with grpcio-tools, cached)")
    parser.add_argument("--allow-unknown-fields", action="store_true",
                        help="skip fields the schema lacks, listing each; the result is then marked as no "
                             "valid Caffe net")
    parser.add_argument("--rules", action="append", default=[], metavar="FILE.py",
                        help="a Python file of your own shape rules, registered with "
                             "blobcalc.shapes.registry.shape_rule (repeatable; see docs/plugins.md)")


def net_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of blobcalc.analyze() given by add_net_options' flags."""
    return {"phase": args.phase, "level": args.level, "stages": args.stage, "batch": getattr(args, "batch", None),
            "input_shapes": shape_map(args.input_shape, "--input-shape"),
            "top_shapes": shape_map(args.top_shape, "--top-shape"), "proto": args.proto,
            "datum_shapes": shape_map(args.datum_shape, "--datum-shape"),
            "allow_unknown_fields": args.allow_unknown_fields, "rules": tuple(args.rules), "rois": args.rois}


def add_memory_options(parser: argparse.ArgumentParser) -> None:
    """--solver/--dtype/--device/--units/--no-assumed-loss: how memory is counted and shown."""
    parser.add_argument("--no-assumed-loss", dest="assume_loss", action="store_false",
                        help="train a net without any loss weight (a deploy net) as Caffe literally would: no "
                             "backward pass (default: a loss on its outputs is assumed, and named)")
    parser.add_argument("--solver", help="a solver .prototxt: its type and regularization set the solver "
                                         "state; without NET its train and test nets are analysed")
    parser.add_argument("--dtype", choices=sorted(DTYPE_BYTES), default="float32",
                        help="element type for the memory figures (Caffe's log figure stays float32)")
    parser.add_argument("--device", choices=("gpu", "cpu"), default="gpu",
                        help="which code path of Caffe to count: layers' Forward/Backward and the solver "
                             "(default gpu)")
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                        help="with --device gpu: Caffe's own layers or cuDNN's (default cudnn, as a Caffe "
                             "built with cuDNN picks it; a layer's own engine field wins)")
    parser.add_argument("--units", choices=tuple(UNIT_BYTES), default="MiB",
                        help="unit of the human-readable figures (KiB/MiB/GiB are powers of 1024, "
                             "KB/MB/GB of 1000)")

