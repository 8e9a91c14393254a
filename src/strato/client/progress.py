"""Progress bars for the CLI: the transfer engine's `Progress` callbacks drawn with rich on
stderr, one bar per file in flight (the first few; the rest count in the total) and a total
with bytes, rate and ETA. Drawn only when stderr is a terminal; otherwise nothing is."""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import TYPE_CHECKING

from strato.client.transfers import NoProgress

if TYPE_CHECKING:
    from rich.progress import TaskID

#: Files drawn with a bar of their own at once; more in flight are counted in the total only.
MAX_BARS = 8
#: Files smaller than this never get a bar of their own (they would only flicker).
MIN_BAR_BYTES = 256 * 1024


def want_bars(quiet: bool) -> bool:
    """Bars only for a person watching: stderr a terminal, not `--quiet`, TERM not dumb."""
    return not quiet and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


class Bars:
    """The `Progress` protocol drawn with rich. Use as a context manager; `expect` adds
    files and bytes to the total (call it before or during the transfer)."""

    def __init__(self, verb: str = "total", *, files: int = 0, total: int | None = 0) -> None:
        # rich is imported only when bars are drawn: it costs every command start-up time
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.console = Console(stderr=True)
        self.verb = verb
        self.progress = Progress(
            TextColumn("{task.description}", justify="left"), BarColumn(bar_width=30),
            TaskProgressColumn(), DownloadColumn(binary_units=True), TransferSpeedColumn(),
            TimeRemainingColumn(), console=self.console, transient=False,
            refresh_per_second=8)
        self.files = files
        self.files_done = 0
        self.bars: dict[str, TaskID] = {}
        self.unknown_total = total is None
        self.total = self.progress.add_task(self._label(), total=None if total is None
                                            else max(total, 0) or None)

    def _label(self, done: bool = False) -> str:
        word = "done" if done else self.verb
        count = f"{self.files_done}/{self.files}" if self.files else f"{self.files_done}"
        return f"[bold]{word}[/] {count} file{'s' if self.files != 1 else ''}"

    def expect(self, files: int, size: int | None) -> None:
        self.files += files
        if size is None:
            self.unknown_total = True
        if not self.unknown_total:
            task = self.progress.tasks[self.total]
            self.progress.update(self.total, total=(task.total or 0) + (size or 0))
        self.progress.update(self.total, description=self._label())

    def __enter__(self) -> Bars:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for bar in list(self.bars.values()):
            self.progress.remove_task(bar)
        self.bars.clear()
        if kind is None:
            task = self.progress.tasks[self.total]
            total = task.total if task.total else task.completed
            self.progress.update(self.total, total=total or 1,
                                 completed=total or 1, description=self._label(done=True))
        self.progress.stop()

    # -- the Progress protocol --------------------------------------------------------------

    def start(self, name: str, total: int | None) -> None:
        if len(self.bars) < MAX_BARS and (total is None or total >= MIN_BAR_BYTES):
            label = name if len(name) <= 40 else "…" + name[-39:]
            self.bars[name] = self.progress.add_task(label, total=total)

    def advance(self, name: str, done: int) -> None:
        self.progress.advance(self.total, done)
        task = self.bars.get(name)
        if task is not None:
            self.progress.advance(task, done)

    def finish(self, name: str) -> None:
        task = self.bars.pop(name, None)
        if task is not None:
            self.progress.remove_task(task)
        self.files_done += 1
        self.progress.update(self.total, description=self._label())


class Quiet(NoProgress):
    """Nothing drawn; the same context-manager shape as `Bars`."""

    def expect(self, files: int, size: int | None) -> None:
        pass

    def __enter__(self) -> Quiet:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        pass


def progress_for(quiet: bool, verb: str = "total") -> Bars | Quiet:
    return Bars(verb) if want_bars(quiet) else Quiet()


__all__ = ["Bars", "Quiet", "progress_for", "want_bars"]
