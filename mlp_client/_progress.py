"""Training progress for people: a live bar on a terminal (``rich``, else ``tqdm``, when one
is installed: ``pip install 'mlp-service[progress]'``), a plain line at each tenth of the run
otherwise (logs, CI), or the caller's own callback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TextIO

__all__ = ["ProgressArg", "Reporter", "describe", "make_reporter"]

ProgressArg = bool | Callable[[Mapping[str, Any]], object] | None


class Reporter(Protocol):
    def update(self, row: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


def describe(row: Mapping[str, Any], total: int | None = None) -> str:
    """``epoch 10/100  loss 0.3012  accuracy 0.9100`` (metrics present in ``row`` only)."""
    epoch = row.get("epoch", "?")
    parts = [f"epoch {epoch}/{total}" if total else f"epoch {epoch}"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        value = row.get(key)
        if isinstance(value, int | float):
            parts.append(f"{key} {value:.4f}")
    return "  ".join(parts)


class _Silent:
    def update(self, row: Mapping[str, Any]) -> None:
        return None

    def close(self) -> None:
        return None


class _Callback:
    def __init__(self, callback: Callable[[Mapping[str, Any]], object]) -> None:
        self.callback = callback

    def update(self, row: Mapping[str, Any]) -> None:
        self.callback(row)

    def close(self) -> None:
        return None


class _Lines:
    """One line per tenth of the run (and the first and last epochs): readable in a log."""

    def __init__(self, stream: TextIO, total: int | None, prefix: str) -> None:
        self.stream, self.total, self.prefix = stream, total, prefix
        self.step = max(1, (total or 10) // 10)
        self.last_shown = 0
        self.last_row: Mapping[str, Any] | None = None

    def update(self, row: Mapping[str, Any]) -> None:
        epoch = row.get("epoch")
        if not isinstance(epoch, int) or epoch <= self.last_shown:
            return
        self.last_row = row
        if epoch == 1 or epoch == self.total or epoch - self.last_shown >= self.step:
            self._show(row)

    def _show(self, row: Mapping[str, Any]) -> None:
        self.last_shown = int(row.get("epoch", 0))
        self.stream.write(f"{self.prefix}{describe(row, self.total)}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.last_row is not None and self.last_row.get("epoch") != self.last_shown:
            self._show(self.last_row)


class _Rich:
    def __init__(self, stream: TextIO, total: int | None, prefix: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn(prefix or "training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=Console(file=stream),
            transient=False,
        )
        self.task = self.progress.add_task("train", total=total, metrics="")
        self.progress.start()

    def update(self, row: Mapping[str, Any]) -> None:
        metrics = describe(row).partition("  ")[2]
        self.progress.update(self.task, completed=row.get("epoch", 0), metrics=metrics)

    def close(self) -> None:
        self.progress.stop()


class _Tqdm:
    def __init__(self, stream: TextIO, total: int | None, prefix: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, file=stream, desc=prefix or "training", unit="epoch")

    def update(self, row: Mapping[str, Any]) -> None:
        epoch = row.get("epoch", 0)
        if isinstance(epoch, int) and epoch > self.bar.n:
            self.bar.update(epoch - self.bar.n)
        self.bar.set_postfix_str(describe(row).partition("  ")[2], refresh=True)

    def close(self) -> None:
        self.bar.close()


def _terminal_reporter(stream: TextIO, total: int | None, prefix: str) -> Reporter | None:
    for kind in (_Rich, _Tqdm):
        try:
            return kind(stream, total, prefix)
        except ImportError:
            continue
    return None


def make_reporter(
    progress: ProgressArg, total: int | None, stream: TextIO | None = None, prefix: str = ""
) -> Reporter:
    """The reporter for ``progress``: False/None -> silent; a callable -> called with each
    progress row; True -> a bar on a terminal, plain lines elsewhere (on ``stream``, default
    stderr)."""
    if not progress:
        return _Silent()
    if callable(progress):
        return _Callback(progress)
    out = stream if stream is not None else sys.stderr
    isatty = getattr(out, "isatty", None)
    if callable(isatty) and isatty():
        reporter = _terminal_reporter(out, total, prefix)
        if reporter is not None:
            return reporter
    return _Lines(out, total, prefix)


class _Trials:
    """Sweeps: one line per trial as it ends (from ``trial`` events or polled documents);
    with ``callback``, that is called instead, once per ended trial."""

    def __init__(
        self, stream: TextIO, callback: Callable[[Mapping[str, Any]], object] | None = None
    ) -> None:
        self.stream = stream
        self.callback = callback
        self.shown: set[int] = set()

    def update(self, trial: Mapping[str, Any]) -> None:
        index = trial.get("index")
        if not isinstance(index, int) or index in self.shown:
            return
        if trial.get("status") not in ("succeeded", "failed", "cancelled"):
            return
        self.shown.add(index)
        if self.callback is not None:
            self.callback(dict(trial))
            return
        score = trial.get("score")
        shown = f"  score {score:.4f}" if isinstance(score, int | float) else ""
        self.stream.write(f"trial {index} {trial.get('status')}{shown}  {trial.get('params')}\n")
        self.stream.flush()

    def close(self) -> None:
        return None


def make_trial_reporter(progress: ProgressArg, stream: TextIO | None = None) -> Reporter:
    """Sweeps' reporter: silent, the caller's callback (once per ended trial), or a line per
    ended trial."""
    if not progress:
        return _Silent()
    out = stream if stream is not None else sys.stderr
    return _Trials(out, progress) if callable(progress) else _Trials(out)
