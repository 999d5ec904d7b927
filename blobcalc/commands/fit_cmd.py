"""`blobcalc fit NET --memory 11GiB`: the largest batch whose memory estimate fits."""
from __future__ import annotations

import argparse
import sys

from blobcalc.api import report
from blobcalc.commands import Command
from blobcalc.commands.options import add_memory_options, add_net_options, net_options
from blobcalc.errors import UsageError
from blobcalc.fit import largest_batch
from blobcalc.units import format_bytes, parse_size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", nargs="?", help="a .prototxt net (optional with --solver)")
    parser.add_argument("--memory", required=True, help="the memory budget, e.g. 11GiB, 12GB, 8000MiB")
    parser.add_argument("--train", action="store_true", help="fit training (default: inference)")
    parser.add_argument("--method", choices=("caffe", "seed"), default="caffe",
                        help="caffe: the Caffe-true accounting (default); seed: the source document's rule")
    add_net_options(parser, phase_default=None)
    add_memory_options(parser)


def run(args: argparse.Namespace) -> int:
    budget = parse_size(args.memory)
    options = net_options(args)
    if options["batch"] is not None:
        raise UsageError("fit chooses the batch itself; drop --batch")

    phase_notices: set[str] = set()  # the phase that builds, when it is not the default one

    def estimate(batch: int) -> int:
        result = report(args.net, solver=args.solver, dtype=args.dtype, device=args.device,
                        **{**options, "batch": batch})
        if result.analysis.phase_notice:
            phase_notices.add(result.analysis.phase_notice)
        memory = result.memory
        if args.method == "seed":
            if memory.seed is None:
                raise UsageError(f"the seed method needs the net at batch 1: {memory.seed_error}")
            seed = memory.seed
            # The document's inference rule is per image; for a batch, activations scale with it.
            return seed.training_bytes if args.train else seed.BYTES * (
                seed.params + seed.activations_per_image * batch)
        if args.train:
            if memory.training_total is None:
                raise UsageError(f"training memory is not available: {memory.training_error}")
            return memory.training_total
        return memory.inference.totals.total

    fit = largest_batch(estimate, budget)
    sys.stdout.writelines(f"notice: {notice}\n" for notice in sorted(phase_notices))
    what = "training" if args.train else "inference"
    unit = args.units
    if fit.batch == 0:
        sys.stdout.write(f"not even batch 1 fits: {what} at batch 1 needs {format_bytes(fit.bytes_at_next, unit)}"
                         f", over the budget of {format_bytes(budget, unit)}\n")
        return 1
    assert fit.bytes_at_batch is not None
    sys.stdout.write(f"largest batch for {what} ({args.method} method) within {format_bytes(budget, unit)}: "
                     f"{fit.batch}\n"
                     f"  batch {fit.batch}: {format_bytes(fit.bytes_at_batch, unit)} ({fit.bytes_at_batch:,} B)\n"
                     f"  batch {fit.batch + 1}: {format_bytes(fit.bytes_at_next, unit)} ({fit.bytes_at_next:,} B)"
                     f" does not fit\n  ({fit.evaluations} batch sizes propagated)\n")
    return 0


COMMAND = Command("fit", add_arguments, run, "the largest batch whose memory estimate fits a budget")
