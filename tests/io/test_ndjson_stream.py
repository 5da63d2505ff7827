"""NDJSON whose types change mid-file is read in bounded memory (streamed in chunks, two
passes), with the types widened across the whole file."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill import io as dio
from datamill.io.files import open_source
from datamill.io.url import parse_url


def _source(url: str, **options: object):
    return open_source(parse_url(url, **options))


@pytest.mark.timeout(300)
def test_compressible_ndjson_with_one_mixed_line_streams_in_bounded_memory(tmp_path: Path,
                                                                          monkeypatch):
    from datamill.io.formats import jsonfmt

    monkeypatch.setattr(jsonfmt, "CHUNK_ROWS", 10_000, raising=False)
    n = 150_000
    p = tmp_path / "big.ndjson.gz"
    line = b'{"id": 7, "kind": "order", "ok": true}\n'
    with gzip.open(p, "wb", compresslevel=1) as f:
        for _ in range(n // 10_000):
            f.write(line * 10_000)
        f.write(b'{"id": "seven", "kind": "order", "ok": true}\n')  # the one mixed line
    assert p.stat().st_size < 1 << 20
    warm = tmp_path / "warm.ndjson"  # import everything the read needs before measuring
    warm.write_text('{"id": 1}\n{"id": "x"}\n')
    list(_source(str(warm)).batches())
    src = _source(str(p))
    rows = 0
    tracemalloc.start()
    try:
        for batch in src.batches(batch_size=100_000):
            rows += batch.num_rows
            assert batch.schema.field("id").type == pa.string()
            assert batch.schema.field("ok").type == pa.bool_()
            del batch
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == n + 1
    # all records as Python dicts take about 75 MB here (GBs for a real file); ~18 MB now
    assert peak < 40 << 20, peak
    assert any("'id'" in note and "JSON text" in note for note in src.notes)


def test_widening_across_chunks(tmp_path: Path, monkeypatch):
    from datamill.io.formats import jsonfmt

    monkeypatch.setattr(jsonfmt, "CHUNK_ROWS", 3, raising=False)  # every widening crosses a chunk boundary
    recs = [{"i": 1, "f": 1, "s": {"a": 1}, "m": 1, "late": None},
            {"i": 2, "f": 2, "s": {"a": 2}, "m": "x"},
            {"i": 3, "f": 3, "s": None, "m": None},
            {"i": 4, "f": 2.5, "s": {"a": 3, "b": "new"}, "m": [1, 2]},
            {"i": 5, "f": None, "s": {"b": "z"}, "m": {"k": 1}, "late": "here"},
            {"i": 6, "f": 4}]
    p = tmp_path / "w.ndjson"
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    t = dio.read(str(p))
    assert t.schema.field("i").type == pa.int64()
    assert t.schema.field("f").type == pa.float64()
    assert t.schema.field("s").type == pa.struct([("a", pa.int64()), ("b", pa.string())])
    assert t.schema.field("m").type == pa.string()
    assert t.column("f").to_pylist() == [1.0, 2.0, 3.0, 2.5, None, 4.0]
    assert t.column("s").to_pylist() == [{"a": 1, "b": None}, {"a": 2, "b": None}, None,
                                         {"a": 3, "b": "new"}, {"a": None, "b": "z"}, None]
    assert t.column("m").to_pylist() == ["1", "x", None, "[1, 2]", '{"k": 1}', None]
    assert t.column("late").to_pylist() == [None] * 4 + ["here", None]
    assert dio.read(str(p), columns=["m", "i"]).column_names == ["m", "i"]


def test_quarantine_on_the_streaming_path_keeps_line_numbers(tmp_path: Path, monkeypatch):
    from datamill.io.formats import jsonfmt

    monkeypatch.setattr(jsonfmt, "CHUNK_ROWS", 2, raising=False)
    p = tmp_path / "q.ndjson"
    p.write_text('{"a": 1}\n{"a": "x"}\n{"a": \n{"a": 2.5}\n')
    src = _source(str(p), on_bad_lines="quarantine")
    t = pa.Table.from_batches(list(src.batches()))
    assert t.column("a").to_pylist() == ["1", "x", "2.5"]
    assert [(n, text) for n, text, _ in src.rejected] == [(3, '{"a": ')]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(-1e6, 1e6),
                          st.text(max_size=5), st.booleans()), min_size=1, max_size=30),
       st.integers(1, 7))
def test_streamed_values_match_a_whole_read(tmp_path_factory, values, chunk):
    from datamill.io.formats import jsonfmt

    p = tmp_path_factory.mktemp("h") / "v.ndjson"
    p.write_text("".join(json.dumps({"v": v, "n": i}) + "\n" for i, v in enumerate(values)))
    whole = jsonfmt.to_table([{"v": v, "n": i} for i, v in enumerate(values)])
    old = jsonfmt.CHUNK_ROWS
    jsonfmt.CHUNK_ROWS = chunk
    try:
        src = _source(str(p), on_bad_lines="quarantine")  # forces the line parser
        got = pa.Table.from_batches(list(src.batches()))
    finally:
        jsonfmt.CHUNK_ROWS = old
    assert got.column("n").to_pylist() == list(range(len(values)))
    out = got.column("v").to_pylist()
    if got.schema.field("v").type == pa.string():  # a mix: every value as its JSON text
        assert out == [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
    else:  # one type for the whole file: the values as a whole read gives them
        assert got.schema.field("v").type == whole.schema.field("v").type
        assert out == whole.column("v").to_pylist()
