"""A dependency-free progress bar with throughput, for uploads (stderr, throttled)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class UploadProgress:
    """Snapshot passed to progress callbacks after each landed transaction."""

    phase: str  # "hashes" or "chunks"
    done: int
    total: int
    bytes_done: int
    bytes_total: int
    elapsed: float

    @property
    def bytes_per_second(self) -> float:
        return self.bytes_done / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class ProgressBar:
    """Callable progress reporter: a redrawn bar on a TTY, a line per 10% otherwise."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)
    width: int = 30
    min_interval: float = 0.1
    _last: float = 0.0
    _last_decile: int = -1

    def __call__(self, p: UploadProgress) -> None:
        now = time.monotonic()
        final = p.done >= p.total
        tty = self.stream.isatty()
        if tty:
            if not final and now - self._last < self.min_interval:
                return
        else:
            decile = 10 * p.done // max(p.total, 1)
            if decile == self._last_decile and not final:
                return
            self._last_decile = decile
        self._last = now
        frac = p.done / p.total if p.total else 1.0
        filled = int(self.width * frac)
        rate = p.bytes_per_second
        eta = (p.bytes_total - p.bytes_done) / rate if rate > 0 else 0.0
        line = (
            f"{p.phase:6} [{'#' * filled}{'.' * (self.width - filled)}] {100 * frac:5.1f}% "
            f"{p.done}/{p.total} tx  {rate / 1024:7.1f} KiB/s  ETA {eta:4.0f}s"
        )
        if tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
