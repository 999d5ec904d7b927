"""How the text formats lay a report out for a reader: every notice or one line per kind, the table or
only the totals, and a table narrowed to a terminal's width by eliding cells and leaving out columns."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ELLIPSIS = "…"
_GAP = 2  # spaces between columns


@dataclass(frozen=True, slots=True)
class TextView:
    verbose: bool = False  # every notice on its own line (default: one line per kind)
    summary: bool = False  # the totals and notices without the per-layer table
    width: int | None = None  # the terminal's columns; None: as wide as the cells need


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """Which columns to show, at which widths, and what was left out to fit."""

    shown: tuple[int, ...]  # indices into the headers, in order
    widths: tuple[int, ...]  # one per shown column
    left_out: tuple[str, ...]  # headers of columns dropped to fit
    elided: bool  # some cells are shortened with an ellipsis


def plan_columns(headers: Sequence[str], natural: Sequence[int], width: int | None,
                 elidable: dict[int, int], droppable: Sequence[int]) -> ColumnPlan:
    """Fit columns of `natural` widths into `width`: first shorten the `elidable` columns (index → the
    narrowest they may get), the widest first; then drop `droppable` columns in order. Never narrower
    than the elidable minimums: past that, the line is as short as it can be and wraps."""
    shown = list(range(len(headers)))
    widths = dict(enumerate(natural))

    def total() -> int:
        return sum(widths[i] for i in shown) + _GAP * (len(shown) - 1)

    if width is None or total() <= width:
        return ColumnPlan(tuple(shown), tuple(widths[i] for i in shown), (), False)
    left_out: list[str] = []
    for index in droppable:
        if total() <= width:
            break
        shrinkable = sum(max(0, widths[i] - minimum) for i, minimum in elidable.items() if i in shown)
        if total() - shrinkable <= width:
            break  # shortening cells is enough; keep every remaining column
        shown.remove(index)
        left_out.append(headers[index])
    elided = False
    while total() > width:
        candidates = [i for i, minimum in elidable.items() if i in shown and widths[i] > minimum]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i] - elidable[i])
        widths[widest] -= 1
        elided = True
    return ColumnPlan(tuple(shown), tuple(widths[i] for i in shown), tuple(left_out), elided)


def elide(text: str, width: int, keep_end: bool) -> str:
    """`text` in at most `width` characters: the middle replaced by '…' (names keep their end, which
    tells layers apart: 'conv4_3_norm_mbox_conf_perm'), or the end cut (shape lists)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    if not keep_end:
        return text[: width - 1] + ELLIPSIS
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + text[len(text) - tail:]
