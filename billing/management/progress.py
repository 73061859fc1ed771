"""A progress bar for long management commands, drawn on stderr (stdout keeps the command's report, so it can be
piped). On a terminal the bar is redrawn in place; otherwise (a log, cron's mail) one line is written per tenth of
the way, so the output stays short."""

import sys
from typing import TextIO

from django.core.management.base import OutputWrapper

WIDTH = 30


class ProgressBar:
    def __init__(self, stream: OutputWrapper | TextIO | None = None, label: str = "") -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_tenth = -1

    def __call__(self, done: int, total: int | None, message: str = "") -> None:
        if not total:
            return
        done = min(done, total)
        tenth = done * 10 // total
        if not self.tty and tenth == self.last_tenth:
            return
        self.last_tenth = tenth
        filled = done * WIDTH // total
        bar = f"[{'#' * filled}{'.' * (WIDTH - filled)}]"
        line = f"{self.label}{bar} {done}/{total} {done * 100 // total:>3}% {message}".rstrip()
        self._write(("\r" + line.ljust(100)) if self.tty else line + "\n")
        if self.tty and done == total:
            self._write("\n")
        self.stream.flush()

    def _write(self, text: str) -> None:
        if isinstance(self.stream, OutputWrapper):
            self.stream.write(text, ending="")
        else:
            self.stream.write(text)
