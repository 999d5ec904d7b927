"""Typed errors of blobcalc: library code raises these, only the CLI prints them."""
from __future__ import annotations

from blobcalc.escaping import escape_controls


class BlobcalcError(Exception):
    """Base of every error a user's input can cause. Its message is one line that a terminal shows as
    it is: a line break inside a name taken from the file (`name: "a\\nb"`) is shown escaped, as
    `\\n`, and so is every other control character (an ESC as `\\x1b`; see blobcalc.escaping)."""

    def __str__(self) -> str:
        return escape_controls(super().__str__())


class InputFileError(BlobcalcError):
    """A file that cannot be read as text at all (missing, binary, empty, not UTF-8)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ParseError(BlobcalcError):
    """Text that is not a valid message of our schema; names the line and column."""

    def __init__(self, path: str, line: int | None, col: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.col = col
        self.reason = reason
        where = path if line is None else f"{path}:{line}:{col}"
        super().__init__(f"{where}: {reason}")


class UpgradeError(BlobcalcError):
    """A legacy net that Caffe's upgrade refuses (e.g. `layer` mixed with `layers`)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class GraphError(BlobcalcError):
    """The layers do not form a net Caffe would build (missing bottom, bad top)."""

    def __init__(self, layer: str, layer_type: str, reason: str, missing_bottom: str = "") -> None:
        self.layer = layer
        self.layer_type = layer_type
        self.reason = reason
        self.missing_bottom = missing_bottom  # a bottom no layer of this phase produces (the other may)
        super().__init__(f"layer '{layer}' ({layer_type}): {reason}")


class ShapeError(BlobcalcError):
    """A layer whose parameters or bottom shapes fail a check Caffe makes."""

    def __init__(self, layer: str, layer_type: str, reason: str) -> None:
        self.layer = layer
        self.layer_type = layer_type
        self.reason = reason
        super().__init__(f"layer '{layer}' ({layer_type}): {reason}")


class UsageError(BlobcalcError):
    """Options that do not make sense together or do not name anything in the net."""
