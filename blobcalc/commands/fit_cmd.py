"""`blobcalc fit NET --memory 11GiB`: the largest batch whose memory estimate fits, and what limits it."""
from __future__ import annotations

import argparse
import sys

from blobcalc.api import NetReport, report
from blobcalc.commands import Command
from blobcalc.commands.options import NET_OR_SOLVER_HELP, add_memory_options, add_net_options, net_options
from blobcalc.errors import BlobcalcError, UsageError
from blobcalc.escaping import escape_controls
from blobcalc.fit import LIMIT_CAFFE, LIMIT_NONE, LIMIT_SEARCH, FitError, FitResult, Trial, largest_batch
from blobcalc.report.summary import unknown_text
from blobcalc.units import format_bytes, parse_size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", nargs="?", help=NET_OR_SOLVER_HELP)
    parser.add_argument("--memory", required=True, metavar="SIZE", help="the memory budget, e.g. 11GiB, 12GB, 8000MiB")
    parser.add_argument("--train", action="store_true", help="fit training (default: inference)")
    parser.add_argument("--method", choices=("caffe", "seed"), default="caffe",
                        help="caffe: the Caffe-true accounting (default); seed: the source document's rule")
    parser.add_argument("--allow-partial", action="store_true",
                        help="on a net with unknown layers, answer with the bound the known layers give "
                             "('at most N') instead of refusing")
    add_net_options(parser, phase_default=None, batch=False)
    add_memory_options(parser)


def _figure(result: NetReport, train: bool, method: str) -> tuple[int, bool]:
    """(bytes, partial) of the figure being fitted, for the net, phase and batch of `result`."""
    memory = result.memory
    if method == "seed":
        seed = memory.seed if train else memory.seed_inference
        if seed is None:
            raise UsageError(f"the seed method has no figure for this net: {memory.seed_error}")
        if train:
            return seed.training_bytes, memory.training_partial
        # The document's inference rule is per image; for a batch, activations scale with it.
        batch = memory.batch or 1
        return seed.BYTES * (seed.params + seed.activations_per_image * batch), memory.per_image_partial
    if train:
        if memory.training_total is None:
            raise UsageError(f"training memory is not available: {memory.training_error}")
        return memory.training_total, memory.training_partial
    return memory.inference.totals.total, memory.partial


def run(args: argparse.Namespace) -> int:
    budget = parse_size(args.memory)
    options = net_options(args)  # no --batch: fit chooses the batch itself
    first: list[NetReport] = []

    def analyse(batch: int) -> NetReport:
        return report(args.net, solver=args.solver, dtype=args.dtype, device=args.device, engine=args.engine,
                      assume_loss=args.assume_loss, **{**options, "batch": batch})

    def trial(batch: int) -> Trial:
        if batch == 1:  # the net must build at batch 1: any error there is the net's, and is raised
            result = analyse(1)
            first.append(result)
        else:
            try:
                result = analyse(batch)
            except BlobcalcError as exc:  # e.g. a blob over INT_MAX elements, a layer fixed to batch 1
                return Trial(batch, None, str(exc))
        figure, partial = _figure(result, args.train, args.method)
        memory = result.memory
        return Trial(batch, figure, "", partial, memory.training_batch if args.train else memory.batch)

    def unknown() -> str:
        # The unknown layers of the net whose figure is fitted: the TRAIN net's for --train.
        memory = first[0].memory
        return (memory.training_unknown if args.train and memory.training_unknown else unknown_text(first[0]))

    def checked(batch: int) -> Trial:
        found = trial(batch)
        if found.partial and not args.allow_partial:
            raise FitError(f"the net is partial ({unknown()}), so "
                           "its memory is unknown and no batch can be said to fit; give the unknown tops "
                           "(--input-shape, --top-shape) or pass --allow-partial for the bound the known layers "
                           "give (at most N)")
        if found.partial and not found.bytes:
            raise FitError(f"nothing of this net's memory is known ({unknown()}), so no batch can "
                           "be said to fit; give the unknown tops (--input-shape, --top-shape)")
        return found

    fit = largest_batch(checked, budget)
    if first[0].analysis.phase_notice:  # the phase that builds, when it is not the default one
        sys.stdout.write(escape_controls(f"notice: {first[0].analysis.phase_notice}") + "\n")
    # Lines may quote layer names from the file: control characters are shown escaped.
    sys.stdout.write("".join(escape_controls(line) + "\n" for line in _lines(fit, first[0], args)))
    return 0 if fit.batch else 1


def _lines(fit: FitResult, at_one: NetReport, args: argparse.Namespace) -> list[str]:
    unit = args.units
    memory = at_one.memory
    if args.train:
        what = (f"training (TRAIN net, {memory.solver.type} solver, {memory.device.upper()}, {memory.dtype}; "
                f"{args.method} method)")
    else:
        what = f"inference ({memory.phase} net, {memory.dtype}; {args.method} method)"
    budget = format_bytes(fit.budget, unit)
    partial = fit.next.partial or (fit.at_batch is not None and fit.at_batch.partial)
    bound = "at most " if partial else ""

    def figure(trial: Trial) -> str:
        if trial.bytes is None:
            return f"does not fit, because Caffe cannot build it: {trial.refusal}"
        text = f"{format_bytes(trial.bytes, unit)} ({trial.bytes:,} B)"
        return f"at least {text} (partial)" if trial.partial else text

    notes = []
    if args.train and memory.assumed_loss:
        notes.append(f"  {memory.assumed_loss_text}")
    elif args.train:
        notes += [f"  note: {note}" for note in memory.training_notes]
    if partial:
        unknown = memory.training_unknown if args.train and memory.training_unknown else unknown_text(at_one)
        notes.append(f"  partial: {unknown}; the known layers alone need this much, so the real "
                     "largest batch is at most the answer")
    evaluated = f"  ({fit.evaluations} batch sizes propagated)"
    if fit.limit == LIMIT_NONE:
        built = fit.next.built_batch
        why = (f"the net's batch stays {built} whatever batch is asked for" if built is not None
               and built != fit.next.batch else "nothing in the estimate grows with the batch")
        verdict = "fits at every batch" if fit.batch else "does not fit at any batch"
        return [f"{what} within {budget}: {verdict}: the estimate does not depend on the batch ({why}): "
                f"{figure(fit.next)} at batch 1 and at batch 2", *notes, evaluated]
    if fit.batch == 0:
        return [f"{what} within {budget}: not even batch 1 fits: batch 1 needs {figure(fit.next)}", *notes]
    assert fit.at_batch is not None
    if fit.limit == LIMIT_CAFFE:
        reason = ("Caffe's INT_MAX blob size" if "INT_MAX" in fit.next.refusal
                  else f"what Caffe can build (batch {fit.next.batch} is refused)")
        head = f"largest batch for {what} within {budget}: {bound}{fit.batch}, limited by {reason}"
    elif fit.limit == LIMIT_SEARCH:
        head = f"largest batch for {what} within {budget}: {bound}{fit.batch}, the search bound (every batch fits)"
    else:
        head = f"largest batch for {what} within {budget}: {bound}{fit.batch}, limited by memory"
    lines = [head, f"  batch {fit.batch}: {figure(fit.at_batch)}"]
    if fit.limit != LIMIT_SEARCH:
        fits_not = "" if fit.next.bytes is None else " does not fit"  # a refusal says it itself
        lines.append(f"  batch {fit.next.batch}: {figure(fit.next)}{fits_not}")
    return [*lines, *notes, evaluated]


COMMAND = Command("fit", add_arguments, run, "the largest batch whose memory estimate fits a budget")
