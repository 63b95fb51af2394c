"""The plotext side of the latency charts: a chart's picture from plain numbers, as plain data (lines of
(text, SGR escapes) runs). It imports plotext and the standard library only, never Textual or Rich, so it
can also run as the chart process (`python -m nvtui.widgets.chart_build READ_FD WRITE_FD`): one request
at a time, each a pickled `Request`, each answered with a pickled `Reply`; it ends when its input ends.
"""

from __future__ import annotations

import os
import pickle
import re
import struct
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ChartData = tuple[tuple[float, ...], ...]
"""What a chart plots, as plain numbers (e.g. x values, then one tuple of y values per line)."""
Run = tuple[str, str]
"""Characters and the SGR escapes in force for them ("" for none)."""
Lines = list[list[Run]]

SGR = re.compile(r"(\x1b\[[0-9;]*m)")
SGR_RESETS = ("\x1b[0m", "\x1b[m")
HEADER = struct.Struct("<I")  # the length of each pickled message on the pipes
READY = "ready"  # the chart process's first message, once plotext is imported
NICE = 10  # the chart process yields the CPU to the app (2 vCPUs: the app's loop and the load engine)


@dataclass(frozen=True)
class Request:
    """One picture: which chart (`PLOTS`), its numbers, its size and its plotext theme, by name and value
    (an app's theme is registered with plotext in the app's process only)."""

    kind: str
    data: ChartData
    width: int
    height: int
    theme: str
    theme_value: Any


@dataclass(frozen=True)
class Reply:
    """The picture's lines, or the error that stopped its build; `pid`: the process that built it."""

    lines: Lines
    error: str | None
    pid: int


def ansi_runs(ansi: str) -> Lines:
    """Plotext's output as (text, escapes) runs per line. Plotext writes characters and SGR escapes
    (colours, style, reset) only, so splitting at the escapes is enough."""
    lines: Lines = []
    for line in ansi.removesuffix("\n").split("\n"):
        runs: list[Run] = []
        codes = ""
        for i, part in enumerate(SGR.split(line)):
            if i % 2:  # an escape (split keeps them at the odd places)
                codes = "" if part in SGR_RESETS else codes + part
            elif part:
                if runs and runs[-1][1] == codes:
                    runs[-1] = (runs[-1][0] + part, codes)
                else:
                    runs.append((part, codes))
        lines.append(runs)
    return lines


def plot_time(plt: Any, data: ChartData) -> None:
    ts, p50, p99 = data
    plt.plot(ts, p50, label="p50", marker="braille")
    plt.plot(ts, p99, label="p99", marker="braille")


def plot_histogram(plt: Any, data: ChartData) -> None:
    edges, shares = data
    plt.bar(edges, shares, width=0.8)


def plot_watch(plt: Any, data: ChartData) -> None:
    ts, values = data
    plt.plot(ts, values, marker="braille")


PLOTS: dict[str, tuple[str, str, Callable[[Any, ChartData], None]]] = {
    "time": ("latency over time (µs): p50, p99", "s", plot_time),
    "watch": ("a watched field over time", "s", plot_watch),
    "histogram": ("latency histogram (µs): % of commands", "", plot_histogram),
}
"""kind: (title, x label, what to plot on a figure)."""


def build(request: Request, plot: Callable[[Any, ChartData], None] | None = None) -> Lines:
    """The picture of `request` (`plot`: instead of the kind's own), on a plotext figure of its own."""
    from plotext._dict import themes  # type: ignore[import-untyped]
    from plotext._figure import _figure_class  # type: ignore[import-untyped]

    title, xlabel, kind_plot = PLOTS[request.kind]
    if request.theme not in themes:
        themes[request.theme] = request.theme_value
    plt = _figure_class()
    plt.theme(request.theme)
    plt.title(title)
    if xlabel:
        plt.xlabel(xlabel)
    if request.data:
        (plot or kind_plot)(plt, request.data)
    plt.plotsize(request.width, request.height)
    plt._set_size(request.width, request.height)  # as textual-plotext does: plotsize alone is not kept
    return ansi_runs(plt.build())


def send(fd: int, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    os.write(fd, HEADER.pack(len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def receive(fd: int) -> object:
    """The next message on `fd`; EOFError if the other end has gone."""
    (size,) = HEADER.unpack(_read(fd, HEADER.size))
    return pickle.loads(_read(fd, size))


def _read(fd: int, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = os.read(fd, left)
        if not part:
            raise EOFError("the other end closed the pipe")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def serve(read_fd: int, write_fd: int) -> None:
    """The chart process: answer requests until the app closes its end."""
    import plotext._figure  # type: ignore[import-untyped]  # noqa: F401  (imported before saying ready: the first picture does not wait)

    os.nice(NICE)
    send(write_fd, READY)
    while True:
        try:
            request = receive(read_fd)
        except EOFError:
            return
        assert isinstance(request, Request)
        try:
            reply = Reply(build(request), None, os.getpid())
        except Exception as exc:  # the app shows it in the chart
            reply = Reply([], "".join(traceback.format_exception_only(exc)).strip(), os.getpid())
        send(write_fd, reply)


if __name__ == "__main__":  # run as a script: serve with this module's classes, the ones pickles name
    from nvtui.widgets.chart_build import serve as serve_imported

    serve_imported(int(sys.argv[1]), int(sys.argv[2]))
