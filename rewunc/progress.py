"""Progress that suits where it is written: a tqdm bar on a terminal, a few plain lines elsewhere.

On a terminal (``stream.isatty()``) :func:`progress` draws a tqdm bar. Anything else — a log file,
CI, a sweep worker's captured stderr — would receive every carriage-return frame of that bar, so
there it writes a short line now and then instead: at most one per ``every`` of the total and at
least ``min_interval`` seconds apart, plus one when it closes::

    warmup 450/900 (50%) 12.3 s
    sample 900/900 (100%) 24.0 s

Use it as a context manager (or call :meth:`Progress.close`)::

    with progress(total, "warmup", enabled=show) as bar:
        ...
        bar.set_description("sample")
        bar.update(n)

``enabled=False`` writes nothing at all. tqdm is imported only when a bar is drawn.
"""

from __future__ import annotations

import math
import sys
import time

_clock = time.monotonic  # module-level so tests can substitute a fake clock


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


class Progress:
    """Counts ``update(n)`` up to ``total``; see :func:`progress`."""

    def __init__(
        self,
        total: int,
        desc: str = "",
        *,
        enabled: bool = True,
        stream=None,
        leave: bool = False,
        every: float = 0.1,
        min_interval: float = 10.0,
    ):
        self.total, self.desc, self.enabled = int(total), str(desc), bool(enabled)
        self.n = 0
        self.stream = sys.stderr if stream is None else stream
        self._step = max(1, math.ceil(every * self.total))
        self._min_interval = float(min_interval)
        self._start = self._last_time = _clock()
        self._last_n = 0
        self._closed = not self.enabled
        self._bar = None
        if self.enabled and _is_terminal(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=self.desc, leave=leave, file=self.stream)

    def set_description(self, desc: str) -> None:
        self.desc = str(desc)
        if self._bar is not None:
            self._bar.set_description(self.desc)

    def update(self, n: int = 1) -> None:
        if self._closed:
            return
        self.n += int(n)
        if self._bar is not None:
            self._bar.update(n)
            return
        now = _clock()
        if (
            self.n < self.total
            and self.n - self._last_n >= self._step
            and now - self._last_time >= self._min_interval
        ):
            self._write(now)

    def close(self) -> None:
        """Finish: close the bar, or write the final line (once)."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        else:
            self._write(_clock())

    def _write(self, now: float) -> None:
        self._last_n, self._last_time = self.n, now
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total > 0 else ""
        line = f"{self.desc} {self.n}/{self.total}{pct} {now - self._start:.1f} s".lstrip()
        self.stream.write(line + "\n")
        try:
            self.stream.flush()
        except (AttributeError, ValueError, OSError):
            pass

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(
    total: int,
    desc: str = "",
    *,
    enabled: bool = True,
    stream=None,
    leave: bool = False,
    every: float = 0.1,
    min_interval: float = 10.0,
) -> Progress:
    """A progress reporter over ``total`` steps, written to ``stream`` (default: sys.stderr, as it
    is when this is called, so ``contextlib.redirect_stderr`` applies).

    Args:
        total: the count that ends the run.
        desc: the label (``set_description`` changes it).
        enabled: False writes nothing.
        stream: where to write; a tqdm bar when ``stream.isatty()``, plain lines otherwise.
        leave: keep the tqdm bar on screen after closing (terminal only).
        every, min_interval: plain lines only: a line when the count has advanced by at least
            this fraction of ``total`` since the last line *and* at least this many seconds have
            passed; a final line on close.
    """
    return Progress(
        total,
        desc,
        enabled=enabled,
        stream=stream,
        leave=leave,
        every=every,
        min_interval=min_interval,
    )
