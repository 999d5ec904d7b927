"""`blobcalc scan --format html`: one page for a whole scan, a row per file, each net (or solver)
linked to its own report page, written beside the page in `<output stem>_reports/`.

`render` is pure; `write_reports` is the one function here that writes files (the per-net pages,
made by worker processes like the scan itself) and returns the index page for the caller to write.
"""
from __future__ import annotations

import os
import re
import traceback
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

from blobcalc.errors import BlobcalcError, InputFileError
from blobcalc.report.html_report import NUM_CLASS, escape, page
from blobcalc.scan import NET, OK, PARTIAL, SOLVER, ScanOptions, ScanRow
from blobcalc.scan_format import summary
from blobcalc.units import human_bytes

COLUMNS: tuple[tuple[str, bool], ...] = (  # (header, numeric)
    ("status", False), ("kind", False), ("era", False), ("net", False), ("layers", True), ("params", True),
    ("activations", True), ("training", True), ("Caffe's log", True), ("file", False), ("message", False))


@dataclass(frozen=True, slots=True)
class ReportLink:
    """Where a row's own report is (a path relative to the index page), or why it is missing."""

    href: str = ""
    error: str = ""


def reports_dir(output: str) -> str:
    """`scan.html` → `scan_reports` beside it."""
    return os.path.splitext(output)[0] + "_reports"


def report_file_name(index: int, path: str) -> str:
    """A unique, portable file name for the report of the index-th row: 0007-ResNet-50-deploy.html."""
    stem = os.path.splitext(os.path.basename(path))[0]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "net"
    return f"{index:04d}-{safe}.html"


def has_report(row: ScanRow) -> bool:
    return row.kind in (NET, SOLVER) and row.status in (OK, PARTIAL)


def _number_cell(value: int | None, text: str | None = None) -> str:
    if value is None:
        return '<td class="num" data-sort="">-</td>'
    return f'<td class="num" data-sort="{value}">{escape(text if text is not None else f"{value:,}")}</td>'


def render(rows: Sequence[ScanRow], links: Mapping[int, ReportLink] | None = None, *, title: str = "blobcalc scan",
           options: ScanOptions | None = None) -> str:
    """The index page; `links` maps a row's position in `rows` to its report."""
    links = links or {}
    data = summary(rows)
    head = "".join(f'<th scope="col"{NUM_CLASS if numeric else ""} data-type="{"number" if numeric else "text"}">'
                   f"{escape(name)}</th>" for name, numeric in COLUMNS)
    body = [f"<h1>{escape(title)}</h1>"]
    setting = ""
    if options is not None:
        setting = f"phase {options.phase}" + (f", batch {options.batch}" if options.batch else "")
    counts = ", ".join(f"{n} {s}" for s, n in sorted(data["by_status"].items()))
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(data["by_kind"].items()))
    body.append(f'<p class="meta" id="scan-summary">{data["files"]} files: {escape(counts)} | {escape(kinds)}'
                f"{' · ' + escape(setting) if setting else ''}</p>")
    if data["common_errors"]:
        body.append("<h2>Most common errors</h2><ul>" + "".join(
            f"<li>{n} × {escape(text)}</li>" for text, n in data["common_errors"]) + "</ul>")
    if data["unknown_types"]:
        body.append('<p class="note">Layer types without a shape rule: ' + ", ".join(
            f"{escape(t)} ({n})" for t, n in data["unknown_types"]) + "</p>")
    body += ["<h2>Files</h2>", '<p class="note">Click a column header to sort; a file name links to its '
             "report.</p>", '<div class="scroll">', '<table class="layers sortable" id="files">',
             f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for position, row in enumerate(rows):
        link = links.get(position, ReportLink())
        name = escape(row.path)
        file_cell = f'<a href="{escape(link.href)}">{name}</a>' if link.href else name
        message = row.message
        if link.error:
            message = f"{message}; report not written: {link.error}" if message else f"report not written: {link.error}"
        if row.unknown_types:
            message = f"{message} (no rule: {', '.join(row.unknown_types)})".strip()
        cells = [f"<td>{escape(row.status)}</td>", f"<td>{escape(row.kind)}</td>", f"<td>{escape(row.era or '-')}</td>",
                 f"<td>{escape(row.net_name or '-')}</td>", _number_cell(row.layers), _number_cell(row.params),
                 _number_cell(row.activation_bytes, None if row.activation_bytes is None
                              else human_bytes(row.activation_bytes)),
                 _number_cell(row.training_bytes, None if row.training_bytes is None
                              else human_bytes(row.training_bytes)),
                 _number_cell(row.caffe_log_bytes, None if row.caffe_log_bytes is None
                              else human_bytes(row.caffe_log_bytes)),
                 f"<td>{file_cell}</td>", f'<td class="message">{escape(message)}</td>']
        body.append(f'<tr data-order="{position}" class="status-{escape(row.status)}">{"".join(cells)}</tr>')
    body += ["</tbody>", "</table>", "</div>"]
    return page(title, body)


@dataclass(frozen=True, slots=True)
class _Job:
    position: int
    row: ScanRow
    target: str  # the report file to write
    options: ScanOptions
    back_href: str


def _write_one(job: _Job) -> tuple[int, str]:
    """Write one net's report; (position, "" or the error). Never raises: a failed report is a note."""
    from blobcalc.api import report
    from blobcalc.drawing import graph_svg
    from blobcalc.report.html_report import render as render_report

    try:
        if job.row.kind == SOLVER:
            result = report(solver=job.row.path, batch=job.options.batch)
        else:
            result = report(job.row.path, phase=job.options.phase, batch=job.options.batch)
        svg, note = graph_svg(result.analysis)
        text = render_report(result, svg, graph_note=note, back_link=(job.back_href, "scan index"))
        with open(job.target, "w", encoding="utf-8") as handle:
            handle.write(text)
    except BlobcalcError as exc:
        return job.position, str(exc)
    except OSError as exc:
        return job.position, f"cannot write {job.target}: {exc.strerror or exc}"
    except Exception as exc:  # a bug of ours must not lose the index page
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return job.position, (f"internal error (please report): {type(exc).__name__}: {exc} "
                              f"[{os.path.basename(where.filename)}:{where.lineno}]")
    return job.position, ""


def write_reports(rows: Sequence[ScanRow], output: str, options: ScanOptions, jobs: int = 1) -> str:
    """Write a report page for every analysable net of `rows` into reports_dir(output) and return the
    index page (to be written at `output`) linking to them."""
    directory = reports_dir(output)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise InputFileError(directory, f"cannot create the reports directory: {exc.strerror or exc}") from None
    back_href = "../" + quote(os.path.basename(output))
    work = [_Job(position, row, os.path.join(directory, report_file_name(position, row.path)), options, back_href)
            for position, row in enumerate(rows) if has_report(row)]
    if jobs <= 1 or len(work) < 2:
        results = list(map(_write_one, work))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_write_one, work))
    base = quote(os.path.basename(directory))
    links: dict[int, ReportLink] = {}
    for job, (position, error) in zip(work, results, strict=True):
        links[position] = (ReportLink(error=error) if error
                           else ReportLink(f"{base}/{quote(os.path.basename(job.target))}"))
    return render(rows, links, options=options)
