"""The scan's progress line: finished files and bytes (in the order they finish, not the order of the rows),
the rate of the analysis and the time left at that rate.

Files answered from the cache finish at once; they count as done but not in the rate, which measures
only the bytes analysed since the scan started, so the time left (bytes not yet done over that rate)
errs long, never short, when later files turn out to be cached.
`progress_line` is pure; ScanProgress writes it to a terminal, at most a few times a second.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TextIO

from blobcalc.units import human_bytes


@dataclass(frozen=True, slots=True)
class ProgressState:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    cached: int
    analysed_bytes: int  # bytes of the files analysed (not from the cache) so far
    seconds: float  # since the scan started


def progress_line(state: ProgressState) -> str:
    """e.g. `scan 120/268 files (45 cached) · 3.1/7.2 MiB · 41 files/s 1.2 MiB/s · 0:04 left`."""
    parts = [f"scan {state.files_done}/{state.files_total} files"
             + (f" ({state.cached} cached)" if state.cached else ""),
             f"{human_bytes(state.bytes_done)}/{human_bytes(state.bytes_total)}"]
    seconds = state.seconds
    analysed_files = state.files_done - state.cached
    if seconds >= 1.0 and state.analysed_bytes > 0:
        byte_rate = state.analysed_bytes / seconds
        parts.append(f"{analysed_files / seconds:.0f} files/s {human_bytes(int(byte_rate))}/s")
        left = (state.bytes_total - state.bytes_done) / byte_rate
        parts.append(f"{_clock(left)} left")
    else:
        parts.append("measuring rate")
    return " · ".join(parts)


def _clock(seconds: float) -> str:
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ScanProgress:
    """The progress line on a terminal, redrawn in place; `close` erases it."""

    def __init__(self, stream: TextIO, files_total: int, bytes_total: int, interval: float = 0.2) -> None:
        self.stream = stream
        self.files_total, self.bytes_total = files_total, bytes_total
        self.files_done = self.bytes_done = self.cached = self.analysed_bytes = 0
        self.interval = interval
        self.started = time.monotonic()
        self.last_drawn = 0.0
        self.width = 0

    def file_done(self, size: int, cached: bool) -> None:
        self.files_done += 1
        self.bytes_done += size
        if cached:
            self.cached += 1
        else:
            self.analysed_bytes += size
        now = time.monotonic()
        if now - self.last_drawn >= self.interval or self.files_done == self.files_total:
            self.last_drawn = now
            self._draw(now)

    def state(self, now: float | None = None) -> ProgressState:
        now = time.monotonic() if now is None else now
        return ProgressState(self.files_done, self.files_total, self.bytes_done, self.bytes_total, self.cached,
                             self.analysed_bytes, now - self.started)

    def _draw(self, now: float) -> None:
        line = progress_line(self.state(now))
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def close(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
