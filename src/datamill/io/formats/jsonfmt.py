"""JSON (an array of records, or one record) and NDJSON (one record per line).

NDJSON goes through pyarrow's streaming JSON reader; when that cannot type the data (a field
that changes type) or bad lines are to be quarantined, the file is parsed line by line in
Python instead, so a bad line is reported with its number. That fallback streams: a first
pass reads the lines in chunks and widens each field's type across the whole file (integers
and floats to float, differing structs merged, anything else that mixes types to JSON text),
a second pass converts chunk by chunk to that one schema, so memory stays at one chunk of
Python records whatever the file's size. Nested records can be normalised into child tables
(``normalize=True``), as dlt does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import UsageError
from datamill.io.formats.read_errors import guarded


def _is_array(src: Any, ref: Any) -> bool:
    with src.opener(ref)() as f:
        head = f.read(4096)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return stripped[:1] == b"["


def records(src: Any, ref: Any) -> Iterator[dict[str, Any]]:
    """The records of a JSON or NDJSON file as Python dicts."""
    name = src.name(ref)
    quarantine = str(src.option("on_bad_lines") or "error") == "quarantine"
    encoding = str(src.option("encoding") or "utf-8")
    if _is_array(src, ref) or (src.format == "json" and not _looks_ndjson(src, ref)):
        with src.opener(ref)() as f:
            data = f.read()
        try:
            doc = json.loads(data.decode(encoding)) if data.strip() else []
        except UnicodeDecodeError as exc:
            raise UsageError(f"{name} is not valid {encoding} text at byte offset {exc.start}: "
                             "give it on the location (?encoding=latin-1; Python: encoding='...')") from exc
        except json.JSONDecodeError as exc:
            raise UsageError(f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                             f"{exc.msg}") from exc
        for item in doc if isinstance(doc, list) else [doc]:
            if not isinstance(item, dict):
                item = {"value": item}
            yield item
        return
    yield from (item for _, item in _lines(src, ref, quarantine, collect=True))


CHUNK_ROWS = 50_000  # Python records held at once by the streaming fallback


def _lines(src: Any, ref: Any, quarantine: bool, collect: bool) -> Iterator[tuple[int, Any]]:
    """``(line number, record)`` of each line of an NDJSON file; a bad line raises, or with
    ``quarantine`` is skipped (and set aside in ``src.rejected`` when ``collect``)."""
    name = src.name(ref)
    encoding = str(src.option("encoding") or "utf-8")
    lineno = 0
    rest = b""
    with src.opener(ref)() as f:
        while True:
            chunk = f.read(1 << 20)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop() if chunk else b""
            for raw in lines:
                lineno += 1
                if not raw.strip():
                    continue
                try:
                    item = json.loads(raw.decode(encoding))
                    if not isinstance(item, dict):
                        raise ValueError("a line must hold a JSON object")
                except (ValueError, UnicodeDecodeError) as exc:
                    text = raw.decode(encoding, "replace").rstrip("\r")
                    if quarantine:
                        if collect:
                            src.rejected.append((lineno, text, f"invalid JSON: {exc}"))
                        continue
                    raise UsageError(f"{name}: line {lineno} is not a JSON object ({exc}): "
                                     f"{text[:200]!r}; fix it or set bad lines aside "
                                     "with ?on_bad_lines=quarantine on the location (Python: "
                                     "on_bad_lines='quarantine')") from exc
                yield lineno, item
            if not chunk:
                break


def _looks_ndjson(src: Any, ref: Any) -> bool:
    with src.opener(ref)() as f:
        head = f.read(1 << 16)
    first = head.lstrip().split(b"\n", 1)
    if len(first) < 2:
        return False
    try:
        json.loads(first[0])
        return True
    except ValueError:
        return False


def to_table(rows: list[dict[str, Any]], src: Any = None, name: str = "") -> Any:
    """An Arrow table from dicts, with every key of every row as a column; a column mixing
    types it cannot hold together becomes JSON text (with a note)."""
    import pyarrow as pa

    cols: dict[str, list[Any]] = {}
    for i, row in enumerate(rows):
        for k in row:
            if k not in cols:
                cols[k] = [None] * i
        for k, values in cols.items():
            values.append(row.get(k))
    arrays = {}
    for k, values in cols.items():
        try:
            arrays[k] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays[k] = pa.array([v if v is None or isinstance(v, str) else json.dumps(v)
                                  for v in values], type=pa.string())
            if src is not None:
                src.note(f"{name}: field {k!r} mixes types; read as JSON text")
    return pa.table(arrays) if arrays else pa.table({})


def read(src: Any, ref: Any, columns: list[str] | None, batch_size: int) -> Iterator[Any]:
    """Batches of one JSON / NDJSON file; a corrupt stream is a UsageError naming the file
    and line."""
    yield from guarded(_read(src, ref, columns, batch_size), src.name(ref))


def _read(src: Any, ref: Any, columns: list[str] | None, batch_size: int) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.json as pj

    name = src.name(ref)
    if src.storage.size(ref.path) == 0:
        return
    quarantine = str(src.option("on_bad_lines") or "error") == "quarantine"
    if not quarantine and not _is_array(src, ref) and str(src.option("encoding") or "utf-8") \
            in ("utf-8", "utf8") and (src.format == "ndjson" or _looks_ndjson(src, ref)):
        try:
            reader = pj.open_json(src.opener(ref)(),
                                  read_options=pj.ReadOptions(block_size=8 << 20))
            batches = list(reader)  # one file: typed as a whole, so a late type change is caught
            table = pa.Table.from_batches(batches, schema=reader.schema)
            if columns:
                table = table.select(columns)
            yield from table.to_batches(max_chunksize=batch_size)
            return
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # fall back to the line parser: exact line numbers, mixed types as text
    if _is_array(src, ref) or (src.format == "json" and not _looks_ndjson(src, ref)):
        table = to_table(list(records(src, ref)), src, name)
        if columns:
            missing = [c for c in columns if c not in table.column_names]
            if missing:
                raise UsageError(f"{name} has no field(s) {missing}")
            table = table.select(columns)
        yield from table.to_batches(max_chunksize=batch_size)
        return
    yield from _stream_ndjson(src, ref, columns, batch_size, quarantine)


def _chunks(src: Any, ref: Any, quarantine: bool, collect: bool,
            size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for item in _lines(src, ref, quarantine, collect):
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _widen(old: Any, new: Any) -> Any:
    """The type holding both ``old`` and ``new`` (None: only JSON text holds both)."""
    import pyarrow as pa

    if old is None or new is None:
        return None
    if old == new:
        return old
    try:
        merged = pa.unify_schemas([pa.schema([pa.field("f", old)]), pa.schema([pa.field("f", new)])],
                                  promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    typ = merged.field("f").type
    if pa.types.is_string(typ) and not (pa.types.is_string(old) or pa.types.is_null(old)) or \
            pa.types.is_string(typ) and not (pa.types.is_string(new) or pa.types.is_null(new)):
        return None  # a number promoted to text: keep the JSON text form, as a mix does
    return typ


def _stream_ndjson(src: Any, ref: Any, columns: list[str] | None, batch_size: int,
                   quarantine: bool) -> Iterator[Any]:
    import pyarrow as pa

    name = src.name(ref)
    size = max(1, min(batch_size, CHUNK_ROWS))
    types: dict[str, Any] = {}  # first-seen order; None = JSON text
    for chunk in _chunks(src, ref, quarantine, False, size):
        table = to_table([r for _, r in chunk])
        for field in table.schema:
            typ = field.type if field.name not in _texts(chunk, field) else None
            types[field.name] = _widen(types[field.name], typ) if field.name in types else typ
    if columns:
        missing = [c for c in columns if c not in types]
        if missing:
            raise UsageError(f"{name} has no field(s) {missing}")
    for col, typ in types.items():
        if typ is None:
            src.note(f"{name}: field {col!r} mixes types; read as JSON text")
    names = list(columns) if columns else list(types)
    schema = pa.schema([(c, types[c] if types[c] is not None else pa.string()) for c in names])
    for chunk in _chunks(src, ref, quarantine, True, size):
        arrays = []
        for col, field in zip(names, schema, strict=True):
            values = [r.get(col) for _, r in chunk]
            if types[col] is None:
                arrays.append(pa.array([v if v is None or isinstance(v, str) else json.dumps(v)
                                        for v in values], type=pa.string()))
                continue
            try:
                arrays.append(pa.array(values, type=field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                raise UsageError(f"{name}: field {col!r} near line {chunk[0][0]} does not fit "
                                 f"the type {field.type} seen in the file ({exc})") from None
        yield from pa.Table.from_arrays(arrays, schema=schema).to_batches(max_chunksize=batch_size)


def _texts(chunk: list[tuple[int, Any]], field: Any) -> set[str]:
    """``{field.name}`` when ``to_table`` fell back to JSON text for a field that mixes
    types within ``chunk`` (a string column whose values are not all strings)."""
    import pyarrow as pa

    if not pa.types.is_string(field.type):
        return set()
    for _, r in chunk:
        v = r.get(field.name)
        if v is not None and not isinstance(v, str):
            return {field.name}
    return set()


# ----------------------------------------------------------------------------- normalisation


def normalize(items: Iterable[dict[str, Any]], table: str, id_prefix: str,
              key: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Split nested records into flat rows per table (dlt's relational normalisation).

    Nested objects flatten into ``a__b`` columns; a list field becomes the child table
    ``<table>__<field>`` whose rows carry ``_dm_parent_id`` (the parent row's ``_dm_id``) and
    ``_dm_list_idx``; lists of plain values give child rows with a ``value`` column. Row ids
    are deterministic (a hash of the file and position, or of ``key`` when given), so
    re-reading the same data gives the same ids.
    """
    import xxhash

    out: dict[str, list[dict[str, Any]]] = {table: []}

    def rid(text: str) -> str:
        return xxhash.xxh64_hexdigest(text.encode())

    def flatten(obj: dict[str, Any], prefix: str, row: dict[str, Any], tname: str,
                row_id: str) -> None:
        for k, v in obj.items():
            col = f"{prefix}{k}"
            if isinstance(v, dict):
                flatten(v, f"{col}__", row, tname, row_id)
            elif isinstance(v, list):
                child = f"{tname}__{col}"
                rows = out.setdefault(child, [])
                for i, item in enumerate(v):
                    cid = rid(f"{row_id}/{col}/{i}")
                    crow: dict[str, Any] = {"_dm_id": cid, "_dm_parent_id": row_id,
                                            "_dm_list_idx": i}
                    if isinstance(item, dict):
                        flatten(item, "", crow, child, cid)
                    elif isinstance(item, list):
                        flatten({"value": item}, "", crow, child, cid)
                    else:
                        crow["value"] = item
                    rows.append(crow)
            else:
                row[col] = v

    for i, rec in enumerate(items):
        row_id = rid(f"{table}:{rec[key]}") if key and key in rec else rid(f"{id_prefix}#{i}")
        row: dict[str, Any] = {}
        flatten(rec, "", row, table, row_id)
        row["_dm_id"] = row_id
        out[table].append(row)
    return out


def normalized_tables(src: Any, table: str) -> dict[str, Any]:
    import pyarrow as pa

    parts: dict[str, list[Any]] = {}
    key = src.option("primary_key")
    for ref in src.files:
        rows = normalize(records(src, ref), table, src.name(ref), key)
        for tname, trows in rows.items():
            t = to_table(trows, src, f"{src.name(ref)} ({tname})")
            for k, v in ref.partitions.items():
                if k not in t.column_names:
                    t = t.append_column(k, pa.array([v] * t.num_rows, type=pa.string()))
            parts.setdefault(tname, []).append(t)
    return {name: pa.concat_tables(ts, promote_options="permissive")
            for name, ts in parts.items()}


# ----------------------------------------------------------------------------- writing


def _default(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def write(out: Any, fmt: str, batches: Iterable[Any]) -> int:
    rows = 0
    first = True
    if fmt == "json":
        out.write(b"[")
    for batch in batches:
        for rec in batch.to_pylist():
            text = json.dumps(rec, default=_default, ensure_ascii=False)
            if fmt == "json":
                out.write((("\n" if first else ",\n") + text).encode())
            else:
                out.write(text.encode() + b"\n")
            first = False
        rows += batch.num_rows
    if fmt == "json":
        out.write(b"\n]\n")
    return rows
