"""Go's text/tabwriter as kubectl configures it: `get` uses minwidth 6, padding 3
(k8s.io/cli-runtime printers.GetNewTabWriter); `describe` uses minwidth 0, padding 2
(kubectl describe's tabbedString)."""
from __future__ import annotations

from typing import Iterable, Sequence

GET_MINWIDTH, GET_PADDING = 6, 3
DESCRIBE_MINWIDTH, DESCRIBE_PADDING = 0, 2


def tabwrite(text: str, minwidth: int, padding: int) -> str:
    """Align tab-separated cells as Go's tabwriter (flags 0, padchar ' ') does: a
    column block is a run of consecutive lines that have a tab-terminated cell in
    that column; its width is the widest cell + padding (at least minwidth). The last
    cell of a line is never padded."""
    trailing = text.endswith("\n")
    lines = [line.split("\t") for line in (text[:-1] if trailing else text).split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(a: int, b: int) -> None:
        for cells in lines[a:b]:
            parts = []
            for j, cell in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(cell + " " * (widths[j] - len(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out) + ("\n" if trailing else "")


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    text = "".join("\t".join(r) + "\n" for r in [list(header), *rows])
    return tabwrite(text, GET_MINWIDTH, GET_PADDING)
