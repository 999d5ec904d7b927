"""`blobcalc upgrade NET [-o OUT]`: write a legacy (V0/V1) net as a V2 prototxt, as Caffe's
upgrade_net_proto_text tool does; what the upgrade did goes to standard error."""
from __future__ import annotations

import argparse
import sys

from blobcalc.api import load_source
from blobcalc.commands import Command
from blobcalc.errors import InputFileError
from blobcalc.escaping import escape_controls
from blobcalc.upgrade_text import upgrade_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", help="a .prototxt net definition (V0, V1 or V2)")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="where to write the upgraded prototxt (default: standard output)")


def run(args: argparse.Namespace) -> int:
    source, text = load_source(args.net)
    upgraded = upgrade_text(text, source)
    if args.output in (None, "-"):
        sys.stdout.write(upgraded.text)
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(upgraded.text)
        except OSError as exc:
            raise InputFileError(args.output, f"cannot write: {exc.strerror or exc}") from None
    if not upgraded.changed:
        # upgrade_net_proto_text logs the same and still writes the file.
        sys.stderr.write(escape_controls(f"blobcalc: {source}: already in the latest format ({upgraded.era})") + "\n")
    for notice in upgraded.notices:
        sys.stderr.write(escape_controls(f"blobcalc: notice: {notice}") + "\n")
    return 0


COMMAND = Command("upgrade", add_arguments, run,
                  "write a V0/V1 net as a V2 prototxt (Caffe's upgrade_net_proto_text)")
