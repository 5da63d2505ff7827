"""CSV and TSV: pyarrow's multithreaded reader, streamed block by block.

Types are inferred from the first block. When a column's type changes further down the file
(``1, 2, …, "n/a"``), the file is read again with that column widened (integers to float64
when the value is a number, else to string) and a note is recorded, as long as nothing of the
file has been handed out yet: batches are held back until ``infer_window_mb`` (default 64 MB)
of data has been read. A change beyond that window raises a UsageError naming the column and
the fix (``types={"col": "string"}``). Values never turn into silent nulls.
"""

from __future__ import annotations

import codecs
import functools
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import UsageError
from datamill.io.formats.read_errors import guarded

_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to ([\w\[\], ]+?): "
    r"invalid value '(.*)'", re.S)
_MAX_BLOCK = 1 << 30


def _options(src: Any, ref: Any, columns: list[str] | None, skip: int, block: int,
             types: dict[str, Any], handler: Any) -> tuple[Any, Any, Any]:
    import pyarrow as pa
    import pyarrow.csv as pc

    opt = src.option
    delimiter = opt("delimiter") or opt("sep") or ("\t" if src.format == "tsv" else ",")
    delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
    header = _bool(opt("header"), True)
    names = opt("names")
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    encoding = str(opt("encoding") or "utf8")
    ro = pc.ReadOptions(
        use_threads=True, block_size=block, encoding=encoding,
        column_names=list(names) if names else None,
        autogenerate_column_names=not header and not names,
        skip_rows=1 if header and names else 0,
        skip_rows_after_names=skip,
    )
    po = pc.ParseOptions(delimiter=delimiter, quote_char=opt("quotechar") or '"',
                         newlines_in_values=_bool(opt("newlines_in_values"), False),
                         invalid_row_handler=handler)
    user_types = opt("types") or {}
    if isinstance(user_types, str):
        user_types = json.loads(user_types)
    col_types = {k: (pa.type_for_alias(v) if isinstance(v, str) else v)
                 for k, v in user_types.items()}
    col_types.update(types)
    nulls = opt("null_values")
    co = pc.ConvertOptions(
        column_types=col_types or None, include_columns=columns,
        null_values=nulls.split(",") if isinstance(nulls, str) else nulls,
        # one rule for empty fields: an empty field, quoted ("") or not, is null in every
        # column (as pandas reads it for describe); strings_can_be_null=false keeps '' in text
        strings_can_be_null=_bool(opt("strings_can_be_null"), True),
    )
    return ro, po, co


def _bool(v: Any, default: bool) -> bool:
    from datamill.io.url import opt_bool

    return opt_bool(v, default)


def header_schema(src: Any, ref: Any) -> Any | None:
    """The schema of a CSV file from its first block (header-only files: string columns)."""
    import pyarrow as pa
    import pyarrow.csv as pc

    ro, po, co = _options(src, ref, None, 0, 1 << 20, {}, None)
    try:
        reader = pc.open_csv(src.opener(ref)(), read_options=ro, parse_options=po,
                             convert_options=co)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return None
        raise UsageError(f"{src.name(ref)}: {exc}") from exc
    schema = reader.schema
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                      for f in schema])


def read(src: Any, ref: Any, columns: list[str] | None, batch_size: int,
         whole: bool = False) -> Iterator[Any]:
    """Batches of one CSV/TSV file; a corrupt stream or an oversized value is a UsageError
    naming the file and line (see :mod:`datamill.io.formats.read_errors`)."""
    header = 1 if _bool(src.option("header"), True) else 0
    yield from guarded(_read(src, ref, columns, batch_size, whole), src.name(ref), header)


def _read(src: Any, ref: Any, columns: list[str] | None, batch_size: int,
          whole: bool = False) -> Iterator[Any]:
    """Batches of one CSV/TSV file (see the module docstring for type changes).

    ``whole``: the caller keeps every batch anyway (``io.read``), so the file is first
    parsed in one go by pyarrow's parallel reader with the types of the first block
    fixed; anything that does not fit them (a type change, a bad line, bad text) falls
    back to the streaming reader below, which reports or widens exactly as it would.
    """
    import pyarrow as pa
    import pyarrow.csv as pc

    name = src.name(ref)
    quarantine = str(src.option("on_bad_lines") or "error") == "quarantine"
    if str(src.option("on_bad_lines") or "error") not in ("error", "quarantine"):
        raise UsageError("on_bad_lines must be 'error' or 'quarantine'")
    window = int(float(src.option("infer_window_mb") or 64) * (1 << 20))
    block = int(src.option("block_size") or 4 << 20)
    if not 0 < block <= _MAX_BLOCK:
        raise UsageError(f"{name}: block_size={block} is out of range (1 to {_MAX_BLOCK})")
    if whole and not quarantine:
        table = _read_whole(src, ref, columns, block)
        if table is not None:
            yield from table.to_batches(max_chunksize=batch_size)
            return
    widened: dict[str, Any] = {}
    committed_schema = None
    yielded_rows = 0
    rejected: list[tuple[str, str]] = []
    while True:
        pending: list[tuple[str, str]] = []
        bad: list[Any] = []

        def handler(row: Any, pending=pending, bad=bad) -> str:
            reason = f"expected {row.expected_columns} columns, got {row.actual_columns}"
            if quarantine:
                pending.append((row.text, reason))
                return "skip"
            bad.append((row.text, reason))
            return "error"

        types = dict(widened)
        if committed_schema is not None:
            types = {f.name: f.type for f in committed_schema}
        skip = yielded_rows + len(rejected) if committed_schema is not None else 0
        ro, po, co = _options(src, ref, columns, skip, block, types, handler)
        buffer: list[Any] = []
        size = 0
        try:
            try:
                reader = pc.open_csv(src.opener(ref)(), read_options=ro, parse_options=po,
                                     convert_options=co)
            except pa.ArrowInvalid as exc:
                if "Empty CSV file" in str(exc):
                    return
                raise
            if committed_schema is None:
                _check_encoding(src, ref, reader.schema, ro.encoding)
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                if committed_schema is not None:
                    rejected += pending
                    pending.clear()
                    yielded_rows += batch.num_rows
                    yield from _split(batch, batch_size)
                    continue
                buffer.append(batch)
                size += batch.nbytes
                if size >= window:
                    committed_schema = batch.schema
                    rejected += pending
                    pending.clear()
                    for b in buffer:
                        yielded_rows += b.num_rows
                        yield from _split(b, batch_size)
                    buffer = []
            rejected += pending
            for b in buffer:
                yield from _split(b, batch_size)
            break
        except UnicodeDecodeError as exc:
            raise _encoding_error(src, ref, ro.encoding) from exc
        except pa.ArrowInvalid as exc:
            msg = str(exc)
            if bad:
                text, reason = bad[0]
                line = _locate(src, ref, [text], ro.encoding)[0]
                at = f"line {line}" if line else "a line"
                raise UsageError(
                    f"{name}: {at} is malformed ({reason}): {text[:200]!r}. Fix the file, or "
                    "set bad lines aside with ?on_bad_lines=quarantine on the location "
                    f"({_url_form(name, 'on_bad_lines=quarantine')}; Python: "
                    "on_bad_lines='quarantine')") from exc
            if "straddling" in msg or "block size" in msg.lower():
                if block >= _MAX_BLOCK:  # pyarrow's block size is a 32-bit int: no further
                    line = _long_line(src, ref, _MAX_BLOCK)
                    at = f"line {line}" if line else "a row"
                    raise UsageError(
                        f"{name}: {at} is larger than {_mib(_MAX_BLOCK)}, the largest row "
                        "the CSV reader takes (a 2 GB cell, or a quote never closed?); split "
                        "the value or fix the quoting") from exc
                block = min(block * 8, _MAX_BLOCK)
                continue
            m = _CONVERSION.search(msg)
            if m and committed_schema is None:
                col = _physical_names(src, ref)[int(m.group(1))]
                old, value = m.group(2), m.group(3)
                new = pa.float64() if old.startswith(("int", "uint")) and _is_float(value) \
                    else pa.string()
                if widened.get(col) == new:
                    raise UsageError(f"{name}: column {col!r}: {msg}") from exc
                widened[col] = new
                src.note(f"{name}: column {col!r} changes type further down the file (value "
                         f"{value[:50]!r} is not {old}); read as {new}")
                continue
            if m:
                col = _physical_names(src, ref)[int(m.group(1))]
                raise UsageError(
                    f"{name}: column {col!r} changes type after the first "
                    f"{yielded_rows} rows (value {m.group(3)[:50]!r} is not {m.group(2)}); "
                    f"pass types={{{col!r}: 'string'}} (or a larger infer_window_mb)") from exc
            raise UsageError(f"{name}: cannot read the CSV: {msg}") from exc
    if rejected:
        lines = _locate(src, ref, [t for t, _ in rejected], ro.encoding)
        src.rejected.extend((ln, t, r) for ln, (t, r) in zip(lines, rejected, strict=True))


def _mib(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} bytes"


def _long_line(src: Any, ref: Any, limit: int) -> int | None:
    """The number of the first line longer than ``limit`` bytes (quotes not considered),
    found in one streamed pass."""
    lineno, length = 1, 0
    with src.opener(ref)() as f:
        while chunk := f.read(1 << 20):
            start = 0
            while (nl := chunk.find(b"\n", start)) >= 0:
                if length + nl - start > limit:
                    return lineno
                lineno, length, start = lineno + 1, 0, nl + 1
            length += len(chunk) - start
            if length > limit:
                return lineno
    return None


def _read_whole(src: Any, ref: Any, columns: list[str] | None, block: int) -> Any | None:
    """The whole file through ``pyarrow.csv.read_csv`` (parallel), with the column types
    the streaming reader infers from its first block; None when anything does not fit."""
    import pyarrow as pa
    import pyarrow.csv as pc

    def refuse(row: Any) -> str:
        return "error"

    try:
        ro, po, co = _options(src, ref, columns, 0, block, {}, refuse)
        with src.opener(ref)() as f:
            first = pc.open_csv(f, read_options=ro, parse_options=po, convert_options=co).schema
        if any(pa.types.is_null(t) or pa.types.is_binary(t) for t in first.types):
            return None  # empty first-block columns and undecodable text: the slow path says
        if len(set(first.names)) < len(first.names):
            return None  # repeated names: column_types holds one type per name
        _, _, co = _options(src, ref, columns, 0, block, {f.name: f.type for f in first}, refuse)
        with src.opener(ref)() as f:
            table = pc.read_csv(f, read_options=ro, parse_options=po, convert_options=co)
        if not po.newlines_in_values and _has_quoted_newline(table, po.quote_char):
            return None  # without newlines_in_values a quoted newline parses by blocks
        return table
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError, OSError):
        return None


def _has_quoted_newline(table: Any, quote: Any) -> bool:
    """Whether a string value holds a line break (only a quoted one can) or the quote
    character (what is left of a quoted newline cut at a block boundary, whose first
    part the parser drops): a memchr per mark over each chunk's value bytes, no copy."""
    import numpy as np
    import pyarrow as pa

    marks = [10, 13] + ([ord(quote)] if isinstance(quote, str) and len(quote) == 1 else [])
    memchr = _memchr()
    for col in table.columns:
        if not pa.types.is_string(col.type):
            continue
        for c in col.chunks:
            if not len(c):
                continue
            offsets = np.frombuffer(c.buffers()[1], dtype=np.int32)
            lo, hi = int(offsets[c.offset]), int(offsets[c.offset + len(c)])
            data = c.buffers()[2]
            if memchr is not None:
                if any(memchr(data.address + lo, m, hi - lo) for m in marks):
                    return True
            elif any(bytes([m]) in bytes(memoryview(data)[lo:hi]) for m in marks):
                return True
    return False


@functools.cache
def _memchr() -> Any:
    """libc's memchr through ctypes (None where there is no C library to load)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or ctypes.util.find_library("msvcrt"))
        fn = libc.memchr
    except Exception:  # noqa: BLE001 - any platform without it takes the copying check
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    return fn


def _split(batch: Any, batch_size: int) -> Iterator[Any]:
    if batch.num_rows <= batch_size:
        yield batch
        return
    for start in range(0, batch.num_rows, batch_size):
        yield batch.slice(start, batch_size)


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _physical_names(src: Any, ref: Any) -> list[str]:
    import pyarrow.csv as pc

    ro, po, _ = _options(src, ref, None, 0, 1 << 16, {}, None)
    co = pc.ConvertOptions(column_types=None)
    # only the names are wanted: read them with every column as a string
    reader = pc.open_csv(src.opener(ref)(), read_options=ro,
                         parse_options=pc.ParseOptions(delimiter=po.delimiter,
                                                       quote_char=po.quote_char,
                                                       invalid_row_handler=lambda r: "skip"),
                         convert_options=co)
    return reader.schema.names


def _check_encoding(src: Any, ref: Any, schema: Any, encoding: str) -> None:
    import pyarrow as pa

    if any(pa.types.is_binary(f.type) for f in schema):  # invalid UTF-8 is read as binary
        raise _encoding_error(src, ref, encoding)


def _encoding_error(src: Any, ref: Any, encoding: str) -> UsageError:
    """Find the first byte that does not decode and say where it is."""
    offset, line, found = 0, 1, None
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError:
        return UsageError(f"{src.name(ref)}: unknown encoding {encoding!r}")
    with src.opener(ref)() as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                found = offset + exc.start
                line += chunk[: exc.start].count(b"\n")
                bad = chunk[exc.start: exc.start + 4]
                break
            offset += len(chunk)
            line += chunk.count(b"\n")
    where = f"at byte offset {found} (line {line}, bytes {bad!r})" if found is not None else ""
    return UsageError(f"{src.name(ref)} is not valid {encoding} text {where}: give the file's "
                      "encoding on the location, e.g. "
                      f"{_url_form(src.name(ref), 'encoding=latin-1')} (or cp1252; Python: "
                      "encoding='latin-1')")


def _url_form(name: str, option: str) -> str:
    """The command-line form of a location with one more option: ``'f.csv?encoding=x'``."""
    import os

    base = os.path.basename(name) or name
    return f"'{base}?{option}'"


def _locate(src: Any, ref: Any, texts: list[str], encoding: str) -> list[int | None]:
    """1-based line numbers of raw lines, found in order by scanning the file once."""
    out: list[int | None] = [None] * len(texts)
    want = 0
    lineno = 0
    rest = b""
    with src.opener(ref)() as f:
        while want < len(texts):
            chunk = f.read(1 << 20)
            data = rest + chunk
            lines = data.split(b"\n")
            rest = lines.pop() if chunk else b""
            for raw in lines + ([rest] if not chunk and rest else []):
                lineno += 1
                if raw.rstrip(b"\r").decode(encoding, "replace") == texts[want]:
                    out[want] = lineno
                    want += 1
                    if want == len(texts):
                        break
            if not chunk:
                break
    return out


def write(out: Any, fmt: str, batches: Iterable[Any], options: dict[str, Any]) -> int:
    import pyarrow.csv as pc

    delimiter = options.get("delimiter") or ("\t" if fmt == "tsv" else ",")
    wo = pc.WriteOptions(include_header=_bool(options.get("header"), True),
                         delimiter=delimiter)
    writer = None
    rows = 0
    for batch in batches:
        if writer is None:
            writer = pc.CSVWriter(out, batch.schema, write_options=wo)
        writer.write_batch(batch)
        rows += batch.num_rows
    if writer is not None:
        writer.close()
    return rows
