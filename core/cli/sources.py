"""Reading import files as people have them: CSV, JSON Lines and XLSX, streamed.

``open_source(path)`` looks at a file once and returns a ``Source`` that yields
``(line, record)`` pairs, never holding more than a line (or a spreadsheet row) in
memory, so a file of a million rows reads in the memory of one:

* **Encodings** — a byte-order mark decides first (UTF-8, UTF-16, UTF-32);
  otherwise a sample that is valid UTF-8 is UTF-8, and anything else is handed to
  charset-normalizer, which is maintained and knows far more encodings than we
  would guess at. Files from Excel on Chinese Windows come out as GB18030 (a
  superset of GBK and GB2312, so it decodes all three). ``encoding=`` overrides.
  A line with bytes the encoding cannot decode is reported with its number; the
  rest of the file still reads.
* **CSV** — the delimiter is read from the header line (comma, tab as Excel's
  "Unicode text" writes, semicolon as European locales do) unless given. A record
  that is not valid CSV, or that has the wrong number of values, is reported at the
  line it starts on, and reading resumes at the next line: an unclosed quote costs
  one row, never the rows after it.
* **XLSX** — the first sheet, the first non-empty row as the header, read with
  openpyxl's read-only mode (rows stream out of the zipped XML; the sheet is never
  loaded whole). Numbers that are whole come out as text without ``.0``, dates as
  ``datetime``.
* **JSON Lines** — one object per line.

Column names are normalised (``Customer Name`` → ``customer_name``,
``externalId`` → ``external_id``) and may be renamed with ``columns={"姓名": "name"}``.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import json
import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .. import csvsafe
from ..errors import ValidationError

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}
SAMPLE_BYTES = 256 * 1024
DELIMITERS = (",", "\t", ";", "|")
# Multi-byte encodings in which byte 0x0A is always a line feed, so a file can be
# split into lines before decoding (one bad byte then costs one row). UTF-16 and
# UTF-32 are not among them and are decoded as a stream.
_WIDE = ("utf-16", "utf_16", "utf-32", "utf_32")
_CHINESE = ("gb18030", "gbk", "gb2312", "hz")


class RowError(NamedTuple):
    """One rejected row: its (first) line number in the file, the column at fault
    (``None`` when the whole line is unreadable), why, and a stable code."""

    line: int
    field: str | None
    message: str
    code: str = "INVALID"


def file_error(message: str, code: str = "INVALID_FILE", field: str = "file") -> ValidationError:
    return ValidationError(message, field=field, code=code)


# --------------------------------------------------------------------------- column names

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-./]+")


def normalise_name(name: Any) -> str:
    """``"Customer Name"`` → ``"customer_name"``, ``"externalId"`` → ``"external_id"``."""
    text = str(name if name is not None else "").replace("\ufeff", "").strip()
    text = _CAMEL.sub("_", text)
    return _SEPARATORS.sub("_", text).strip("_").lower()


def parse_column_map(pairs: Iterable[str]) -> dict[str, str]:
    """``["姓名=name", "Tel=phone"]`` → ``{"姓名": "name", "tel": "phone"}`` (keys
    normalised like headers), for ``--column``."""
    out = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise file_error(f"--column {pair!r}: write it as FILE_COLUMN=KEHU_COLUMN", code="INVALID_OPTION")
        out[normalise_name(source)] = normalise_name(target)
    return out


# --------------------------------------------------------------------------- encodings


def detect_encoding(sample: bytes) -> str:
    """The encoding of a file from its first bytes (see the module docstring)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" not in sample and _mostly_utf8(sample):
        return "utf-8"
    from charset_normalizer import from_bytes

    candidates = [match.encoding for match in from_bytes(sample)]
    if b"\x00" not in sample:  # text in UTF-16/32 without a BOM is full of NUL bytes
        candidates = [c for c in candidates if not c.startswith(_WIDE)]
    if any(c in _CHINESE for c in candidates):
        return "gb18030"
    if not candidates:
        raise file_error(
            "cannot tell the file's encoding; name it with --encoding (e.g. utf-8, gb18030, utf-16)",
            code="UNKNOWN_ENCODING",
        )
    return candidates[0]


def _mostly_utf8(sample: bytes) -> bool:
    """UTF-8, perhaps with a few broken lines (which are then reported one by one):
    text in a legacy encoding such as GBK breaks on nearly every line instead."""
    lines = sample.split(b"\n")
    if len(sample) == SAMPLE_BYTES and len(lines) > 1:
        lines.pop()  # may end inside a character
    broken = 0
    for line in lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            broken += 1
    return broken <= max(2, len(lines) // 100)


def check_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise file_error(f"unknown encoding '{name}'", code="UNKNOWN_ENCODING", field="encoding") from None


# --------------------------------------------------------------------------- sources


@dataclass
class Source:
    """An open import file. ``header`` is the normalised column list (CSV, XLSX;
    ``None`` for JSON Lines); ``records()`` yields ``(line, values)`` with a dict
    per row or a ``RowError``. CSV and XLSX cells are text, or None when blank
    (spreadsheets' dates: ``datetime``); JSON Lines values are as the JSON has them."""

    path: Path
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    header: list[str] | None = None
    raw_header: list[str] | None = None
    size: int = 0
    read_bytes: int = 0
    _rows: Iterator[tuple[int, Any]] | None = field(default=None, repr=False)
    _close: Any = field(default=None, repr=False)

    @property
    def fraction(self) -> float | None:
        """How much of the file has been read, 0 to 1 (for a progress bar)."""
        return min(1.0, self.read_bytes / self.size) if self.size else None

    def records(self) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
        assert self._rows is not None
        try:
            yield from self._rows
        finally:
            self.close()

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None


def open_source(
    path: Path,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    columns: dict[str, str] | None = None,
) -> Source:
    """Open ``path`` (by its suffix: .csv/.tsv/.txt, .jsonl/.ndjson, .xlsx) and read
    its header. Raises ``ValidationError`` (field ``file``) when the file as a whole
    cannot be read."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise file_error(
            f"{path.name}: unsupported file type (use .csv, .tsv, .jsonl or .xlsx)", code="UNSUPPORTED", field="path"
        )
    if not path.is_file():
        raise file_error(f"{path}: no such file", code="NOT_FOUND", field="path")
    source = Source(path=path, format=fmt, size=path.stat().st_size)
    if fmt == "xlsx":
        _open_xlsx(source, columns or {})
        return source
    with path.open("rb") as f:
        sample = f.read(SAMPLE_BYTES)
    source.encoding = check_encoding(encoding) if encoding else detect_encoding(sample)
    if fmt == "jsonl":
        source._rows = _jsonl_rows(source, columns or {})
    else:
        _open_csv(source, delimiter, columns or {})
    return source


# Bytes read and decoded at a time: lines are split and decoded by the block, in C,
# rather than one Python step per line.
BLOCK_BYTES = 1 << 20
LINES_PER_BLOCK = 20_000  # UTF-16/32, which is decoded as a stream


def _line_blocks(source: Source, bad: dict[int, str]) -> Iterator[tuple[int, list[str]]]:
    """The file's lines, each with its line feed, a block of whole lines at a
    time: ``(number of the block's first line, lines)``. A block is decoded at
    once; a block with bytes the encoding cannot decode is decoded line by line
    instead, so that one bad byte costs one row (its reason goes into ``bad``)."""
    encoding = source.encoding or "utf-8"
    codec = codecs.lookup(encoding).name
    f = source.path.open("rb")
    source._close = f.close
    number = 1
    if codec.startswith(_WIDE):
        wide = io.TextIOWrapper(f, encoding=encoding, errors="replace", newline="")
        width = 4 if "32" in codec else 2
        while lines := list(itertools.islice(wide, LINES_PER_BLOCK)):
            for index, line in enumerate(lines):
                source.read_bytes += len(line) * width
                if "\ufffd" in line:
                    bad[number + index] = f"has bytes that are not valid {codec.upper()}"
            yield number, lines
            number += len(lines)
        return
    decode = codecs.getdecoder(codec)
    rest = b""
    while True:
        chunk = f.read(BLOCK_BYTES)
        source.read_bytes += len(chunk)
        data = rest + chunk if rest else chunk
        if chunk:  # whole lines only: the rest waits for the next block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            data, rest = data[:cut], data[cut:]
        elif not data:
            return
        else:
            rest = b""
        if number == 1 and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        try:
            text = decode(data)[0]
        except UnicodeDecodeError:
            lines = _decode_lines(data, decode, codec, number, bad)
        else:
            if codec == "utf-8-sig" and "\n\ufeff" in text:  # as it decodes each line on its own
                text = text.replace("\n\ufeff", "\n")
            lines = io.StringIO(text, newline="\n").readlines()  # split at line feeds only
        yield number, lines
        number += len(lines)


def _decode_lines(data: bytes, decode: Any, codec: str, number: int, bad: dict[int, str]) -> list[str]:
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()
    lines = []
    for index, raw in enumerate(raw_lines):
        raw += b"\n" if index < len(raw_lines) - 1 or data.endswith(b"\n") else b""
        try:
            lines.append(decode(raw)[0])
        except UnicodeDecodeError as exc:
            name = "UTF-8" if codec in ("utf-8", "utf-8-sig") else codec.upper()
            bad[number + index] = (
                f"is not valid {name} (byte 0x{raw[exc.start]:02x} at position {exc.start + 1}); "
                "if the file is in another encoding, name it with --encoding"
            )
            lines.append(decode(raw, "replace")[0])
    return lines


def _sniff_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _header(raw: list[Any], columns: dict[str, str]) -> list[str]:
    names = []
    for cell in raw:
        name = normalise_name(cell)
        names.append(columns.get(name, name))
    return names


def _open_csv(source: Source, delimiter: str | None, columns: dict[str, str]) -> None:
    bad: dict[int, str] = {}
    blocks = _line_blocks(source, bad)
    header_line = None
    for start, lines in blocks:  # the header: the first line with anything on it
        for index, line in enumerate(lines):
            if line.strip().strip(",;\t|").strip():
                header_line = (start + index, line)
                rest = (start + index + 1, lines[index + 1 :])
                break
        if header_line is not None:
            break
    if header_line is None:
        source.close()
        raise file_error("the file is empty (a header line is needed)", code="REQUIRED", field="header")
    number, line = header_line
    if number in bad:
        source.close()
        raise file_error(f"the header line {bad[number]}", code="INVALID_ENCODING", field="header")
    if delimiter is not None and len(delimiter) != 1:
        source.close()
        raise file_error("--delimiter must be one character", code="INVALID_OPTION", field="delimiter")
    source.delimiter = delimiter or _sniff_delimiter(line)
    try:
        raw = next(csv.reader([line], delimiter=source.delimiter, strict=True))
    except csv.Error as exc:
        source.close()
        raise file_error(f"the header line is not valid CSV: {exc}", field="header") from None
    source.raw_header = [str(h).replace("\ufeff", "").strip() for h in raw]
    source.header = _header(raw, columns)
    source._rows = _csv_rows(source, itertools.chain([rest], blocks), bad)


def _blank(values: list[Any]) -> bool:
    # Spreadsheets like to leave lines of bare separators after the data.
    return not any((cell.strip() if isinstance(cell, str) else cell is not None) for cell in values)


def _csv_rows(
    source: Source, blocks: Iterable[tuple[int, list[str]]], bad: dict[int, str]
) -> Iterator[tuple[int, dict | RowError]]:
    """Each CSV record as ``(its first line, {column: text or None when blank})``,
    or a ``RowError``. A record that is not valid CSV, or has the wrong number of
    values, is reported at its first line, and reading resumes at the line after
    it: an unclosed quote costs one row, never the rows after it. A record may
    run past the end of a block (a quoted line feed): its lines are carried into
    the next block."""
    header = source.header or []
    width = len(header)
    delimiter = source.delimiter or ","
    carry: tuple[int, list[str]] | None = None
    for start, lines in blocks:
        if carry is not None:
            start, lines = carry[0], carry[1] + lines
        carry = yield from _block_rows(header, width, delimiter, start, lines, bad, at_end=False)
    if carry is not None:
        yield from _block_rows(header, width, delimiter, carry[0], carry[1], bad, at_end=True)


def _block_rows(
    header: list[str],
    width: int,
    delimiter: str,
    start: int,
    lines: list[str],
    bad: dict[int, str],
    *,
    at_end: bool,
) -> Generator[tuple[int, dict | RowError], None, tuple[int, list[str]] | None]:
    """The records of one block (see ``_csv_rows``); returns the lines of a record
    that runs past the block, to be read with the next one."""
    position = 0  # index of the line the reader starts at
    while position < len(lines):
        reader = csv.reader(
            itertools.islice(lines, position, None) if position else lines, delimiter=delimiter, strict=True
        )
        consumed = 0  # lines the reader has read
        try:
            for record in reader:
                used = reader.line_num - consumed
                first = start + position + consumed
                consumed = reader.line_num
                if bad:
                    broken = [n for n in range(first, first + used) if n in bad]
                    if broken:
                        reason = bad[broken[0]]
                        for n in broken:
                            del bad[n]
                        yield first, RowError(broken[0], None, reason, "INVALID_ENCODING")
                        continue
                # As kehu exported it: a cell quoted against formulas ('=…) back to =….
                values = [
                    (csvsafe.restore(cell) if cell[:1] == "'" else cell) if cell.strip() else None for cell in record
                ]
                if not any(values):  # an empty line, or bare separators
                    continue
                if len(values) != width:
                    yield (
                        first,
                        RowError(
                            first,
                            None,
                            f"has {len(values)} values but the header has {width} columns",
                            "WRONG_COLUMN_COUNT",
                        ),
                    )
                    if used > 1:  # a quote opened a field that swallowed the lines after it
                        position += consumed - used + 1
                        break
                    continue
                yield first, dict(zip(header, values))
            else:
                return None
        except csv.Error as exc:
            index = position + consumed  # the broken record's first line
            if not at_end and position + reader.line_num >= len(lines):
                return start + index, lines[index:]  # it may end in the next block
            first = start + index
            bad.pop(first, None)
            yield (
                first,
                RowError(first, None, f"is not valid CSV ({exc}); the next line is read as a new row", "INVALID_CSV"),
            )
            position = index + 1
    return None


def _jsonl_rows(source: Source, columns: dict[str, str]) -> Iterator[tuple[int, dict | RowError]]:
    bad: dict[int, str] = {}
    numbered = ((start + index, line) for start, lines in _line_blocks(source, bad) for index, line in enumerate(lines))
    for number, line in numbered:
        if number in bad:
            yield number, RowError(number, None, bad.pop(number), "INVALID_ENCODING")
            continue
        if not line.strip():
            continue
        try:
            row = parse_json(line)
        except ValueError as exc:
            yield number, RowError(number, None, f"is not valid JSON: {exc}", "INVALID_JSON")
            continue
        if not isinstance(row, dict):
            yield number, RowError(number, None, "must be a JSON object", "INVALID_JSON")
            continue
        yield number, {columns.get(k, k) if columns else k: value for k, value in row.items()}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def parse_json(text: str) -> Any:
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them.
    return json.loads(text, parse_constant=_reject_constant)


# --------------------------------------------------------------------------- XLSX


def _xlsx_cell(value: Any) -> Any:
    """Spreadsheet cells as the importers take them: text, ``datetime``, or None
    when empty."""
    if value is None:
        return None
    if isinstance(value, str):
        # A CSV export opened in a spreadsheet and saved as a workbook keeps its
        # quote against formulas ('+86 …) as text: taken off like the CSV's.
        return csvsafe.restore(value) if value.strip() else None  # blank is empty, as in CSV
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    if isinstance(value, dt.time):
        return value.isoformat()
    return str(value)


def _open_xlsx(source: Source, columns: dict[str, str]) -> None:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(source.path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise file_error(f"{source.path.name} is not a readable XLSX workbook: {exc}", code="INVALID_FILE") from None
    source._close = workbook.close
    if not workbook.worksheets:
        source.close()
        raise file_error("the workbook has no sheet", code="REQUIRED", field="header")
    sheet = workbook.worksheets[0]
    total = sheet.max_row or 0
    rows = enumerate(sheet.iter_rows(values_only=True), start=1)
    for _, cells in rows:
        if not _blank(list(cells)):
            source.raw_header = [str(c).strip() if c is not None else "" for c in cells]
            source.header = _header(list(cells), columns)
            break
    else:
        source.close()
        raise file_error("the first sheet is empty (a header row is needed)", code="REQUIRED", field="header")
    # Trailing empty header cells (formatting past the data) are not columns.
    while source.header and not source.header[-1]:
        source.header.pop()
        source.raw_header.pop()
    source.size = total

    def records() -> Iterator[tuple[int, dict | RowError]]:
        width = len(source.header or [])
        for number, cells in rows:
            source.read_bytes = number
            values = [_xlsx_cell(c) for c in cells]
            if _blank(values):
                continue
            if len(values) > width and _blank(values[width:]):
                values = values[:width]
            if len(values) != width:
                if len(values) < width:
                    values += [None] * (width - len(values))
                else:
                    yield (
                        number,
                        RowError(
                            number,
                            None,
                            f"has {len(values)} values but the header has {width} columns",
                            "WRONG_COLUMN_COUNT",
                        ),
                    )
                    continue
            yield number, dict(zip(source.header or [], values))

    source._rows = records()
