"""The CLI's lists: one row a line at 80 columns in a terminal, plain aligned text in a pipe.

Ids are shown by their first 8 characters (`--json` has them whole); only free text (a name) may be cut,
with an ellipsis: ids, statuses and numbers are never cut or wrapped; a column empty on every row is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Column, Table

SHORT_ID = 8


def short(ident: str) -> str:
    return ident[:SHORT_ID]


def when(iso: str) -> str:
    """A record's time to the minute: '2026-12-06 09:30'."""
    return iso[:16].replace("T", " ")


def print_list(console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]],
               free: Sequence[str] = ("name", "tags"), numeric: Sequence[str] = ()) -> None:
    """Print rows under headers; `free` columns (text) give way first, `numeric` ones are right-aligned."""
    keep = [i for i, h in enumerate(headers) if any(row[i] for row in rows) or not rows]
    widths = {i: max([len(headers[i]), *(len(row[i]) for row in rows)]) for i in keep}
    fixed = [i for i in keep if headers[i] not in free]
    # What the free columns may take in a terminal: the width less the fixed columns and 3 between columns.
    room = console.width - sum(widths[i] for i in fixed) - 3 * (len(keep) - 1)
    shares = max(1, len(keep) - len(fixed))
    columns = [Column(headers[i], no_wrap=True, overflow="ellipsis",
                      justify="right" if headers[i] in numeric else "left",
                      min_width=widths[i] if i in fixed else None,
                      max_width=max(4, room // shares) if i not in fixed and console.is_terminal else None)
               for i in keep]
    if console.is_terminal:
        table = Table(*columns, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    else:  # a pipe: no rules, nothing cut (the width is the rows')
        table = Table(*columns, box=None, pad_edge=False, show_header=True, header_style=None)
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    if console.is_terminal:
        console.print(table)
        return
    wide = Console(file=console.file, width=10**6, highlight=False, color_system=None)
    with wide.capture() as capture:
        wide.print(table)
    console.file.write("\n".join(line.rstrip() for line in capture.get().splitlines()) + "\n")
