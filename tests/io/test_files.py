"""The files and lakes connector: every format round-trips locally and on S3 (moto's server on
a loopback port), with globs, Hive partitions, compression, bad lines, encodings, confinement
and Delta tables."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datamill import io as dio
from datamill.errors import UsageError
from datamill.io.files import open_source, read_tables
from datamill.io.url import parse_url

TABLE = pa.table({
    "id": pa.array([1, 2, 3], pa.int64()),
    "name": ["alpha", "beta, with comma", "gämma"],
    "score": [1.5, None, -2.25],
})


@pytest.fixture
def bucket(s3_bucket: str) -> str:
    return s3_bucket


def _source(url: str, **options: object):
    return open_source(parse_url(url, **options))


# --------------------------------------------------------------------------- round trips

FORMATS = ["csv", "tsv", "json", "ndjson", "parquet", "tfrecord", "csv.gz", "csv.bz2",
           "csv.zst", "csv.xz", "ndjson.gz", "json.zst", "tsv.xz"]


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_local(tmp_path: Path, ext: str) -> None:
    path = str(tmp_path / f"t.{ext}")
    report = dio.write(path, TABLE, mode="replace")
    assert report.rows == 3 and report.bytes == os.path.getsize(path)
    back = dio.read(path)
    assert back.column("id").to_pylist() == [1, 2, 3]
    assert back.column("name").to_pylist() == TABLE.column("name").to_pylist()
    assert back.column("score").to_pylist() == [1.5, None, -2.25]
    assert [p for p in os.listdir(tmp_path) if p != f"t.{ext}"] == []  # no temp files left


def test_compression_is_real(tmp_path: Path) -> None:
    dio.write(str(tmp_path / "a.csv.gz"), TABLE, mode="replace")
    text = gzip.decompress((tmp_path / "a.csv.gz").read_bytes()).decode()
    assert text.splitlines()[0] == '"id","name","score"'
    dio.write(str(tmp_path / "a.parquet"), TABLE, mode="replace")
    meta = pq.ParquetFile(tmp_path / "a.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


@pytest.mark.parametrize("ext", ["parquet", "csv.gz", "ndjson", "json", "tfrecord"])
def test_round_trip_s3(bucket: str, ext: str) -> None:
    url = f"s3://{bucket}/in/t.{ext}"
    assert dio.write(url, TABLE, mode="replace").rows == 3
    back = dio.read(url)
    assert back.column("name").to_pylist() == TABLE.column("name").to_pylist()
    assert back.column("score").to_pylist() == [1.5, None, -2.25]


def test_s3_glob_hive_and_folder_append(bucket: str) -> None:
    for day, ids in (("2026-11-01", [1, 2]), ("2026-11-02", [3])):
        dio.write(f"s3://{bucket}/lake/date={day}/part.parquet", pa.table({"id": ids}),
                  mode="replace")
    t = dio.read(f"s3://{bucket}/lake/**/*.parquet").sort_by("id")
    assert t.column("id").to_pylist() == [1, 2, 3]
    assert t.schema.field("date").type == pa.date32()
    assert [str(d) for d in t.column("date").to_pylist()] == ["2026-11-01"] * 2 + ["2026-11-02"]
    ds = f"s3://{bucket}/ds/"
    assert not dio.write(ds, TABLE, load_id="L1").skipped
    assert dio.write(ds, TABLE, load_id="L1").skipped
    dio.write(ds, TABLE, load_id="L2")
    assert dio.read(ds).num_rows == 6
    dio.write(ds, TABLE, mode="replace", load_id="L3")
    assert dio.read(ds).num_rows == 3


def test_missing_file_and_bucket(tmp_path: Path, bucket: str) -> None:
    with pytest.raises(UsageError, match="no such file or folder.*nope.csv"):
        dio.read(str(tmp_path / "nope.csv"))
    with pytest.raises(UsageError, match="no files match"):
        dio.read(str(tmp_path / "*.csv"))
    with pytest.raises(UsageError, match=f"no such file.*s3://{bucket}/missing.parquet"):
        dio.read(f"s3://{bucket}/missing.parquet")
    with pytest.raises(UsageError, match="bucket 'no-such-bucket-dm' does not exist"):
        dio.read("s3://no-such-bucket-dm/x.parquet")
    with pytest.raises(UsageError, match="bucket 'no-such-bucket-dm' does not exist"):
        dio.write("s3://no-such-bucket-dm/x.parquet", TABLE, mode="replace")


# --------------------------------------------------------------------------- globs, partitions


def test_glob_and_hive_partitions_typed(tmp_path: Path) -> None:
    for region in ("eu", "us"):
        for year in (2025, 2026):
            folder = tmp_path / "sales" / f"year={year}" / f"region={region}"
            folder.mkdir(parents=True)
            (folder / "a.csv").write_text(f"amount\n{year % 100}\n1\n")
    (tmp_path / "sales" / "_SUCCESS").write_text("")
    t = dio.read(str(tmp_path / "sales" / "*" / "*" / "*.csv"))
    assert t.num_rows == 8
    assert t.schema.field("year").type == pa.int64()
    assert t.schema.field("region").type == pa.string()
    assert sorted(set(t.column("region").to_pylist())) == ["eu", "us"]
    # the folder itself is a dataset too, and partition columns can be selected
    t2 = dio.read(str(tmp_path / "sales"), columns=["year", "amount"])
    assert t2.column_names == ["year", "amount"]
    assert sum(t2.column("amount").to_pylist()) == 2 * (25 + 26) + 4
    t3 = dio.read(str(tmp_path / "sales" / "**" / "*.csv"))
    assert t3.num_rows == 8


def test_read_batches_streams(tmp_path: Path) -> None:
    n = 50_000
    path = tmp_path / "big.csv"
    path.write_text("i,s\n" + "".join(f"{i},x{i}\n" for i in range(n)))
    batches = list(dio.read_batches(str(path), batch_size=7_000))
    assert len(batches) >= 8 and max(b.num_rows for b in batches) <= 7_000
    assert sum(b.num_rows for b in batches) == n
    assert batches[-1].column("i")[-1].as_py() == n - 1
    pq_path = tmp_path / "big.parquet"
    dio.write(str(pq_path), pa.Table.from_batches(batches), mode="replace")
    assert len(list(dio.read_batches(str(pq_path), batch_size=10_000))) == 5


# --------------------------------------------------------------------------- CSV specifics


def test_csv_options_delimiter_header_names(tmp_path: Path) -> None:
    p = tmp_path / "semi.txt"
    p.write_text("1;x\n2;y\n")
    t = dio.read(str(p), format="csv", delimiter=";", header="false", names="n,c")
    assert t.column_names == ["n", "c"] and t.column("n").to_pylist() == [1, 2]
    t = dio.read(str(p) + "?format=csv&delimiter=;&header=false")
    assert t.column_names == ["f0", "f1"]


def test_bad_lines_error_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    with pytest.raises(UsageError, match=r"bad\.csv: line 4 is malformed \(expected 2 columns,"
                                         r" got 3\): '5,6,7'.*quarantine"):
        dio.read(str(p))


def test_bad_lines_quarantine(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("a,b\n1,2\n3\n4,5\n6,7,8,9\n10,11\n")
    src = _source(str(p), on_bad_lines="quarantine")
    t = pa.Table.from_batches(list(src.batches()))
    assert t.column("a").to_pylist() == [1, 4, 10]
    assert src.rejected == [(3, "3", "expected 2 columns, got 1"),
                            (5, "6,7,8,9", "expected 2 columns, got 4")]


def test_ndjson_bad_lines(tmp_path: Path) -> None:
    p = tmp_path / "e.ndjson"
    p.write_text('{"a": 1}\n{"a": 2\n{"a": 3}\n')
    with pytest.raises(UsageError, match=r"e\.ndjson: line 2 is not a JSON object"):
        dio.read(str(p))
    src = _source(str(p), on_bad_lines="quarantine")
    assert pa.Table.from_batches(list(src.batches())).column("a").to_pylist() == [1, 3]
    assert [(n, t) for n, t, _ in src.rejected] == [(2, '{"a": 2')]


def test_wrong_encoding(tmp_path: Path) -> None:
    p = tmp_path / "latin.csv"
    p.write_bytes("city,n\nParis,1\nK\u00f6ln,2\n".encode("latin-1"))
    with pytest.raises(UsageError, match=r"latin\.csv is not valid utf8 text at byte offset "
                                         r"16 \(line 3.*encoding='latin-1'"):
        dio.read(str(p))
    t = dio.read(str(p), encoding="latin-1")
    assert t.column("city").to_pylist() == ["Paris", "K\u00f6ln"]


def test_empty_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    t = dio.read(str(tmp_path / "empty.csv"))
    assert t.num_rows == 0 and t.num_columns == 0
    (tmp_path / "header.csv").write_text("a,b\n")
    t = dio.read(str(tmp_path / "header.csv"))
    assert t.column_names == ["a", "b"] and t.num_rows == 0
    for ext in ("json", "ndjson"):
        (tmp_path / f"empty.{ext}").write_bytes(b"")
        t = dio.read(str(tmp_path / f"empty.{ext}"))
        assert t.num_rows == 0 and t.num_columns == 0


def test_huge_field(tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    p = tmp_path / "huge.csv"
    p.write_text(f"id,blob\n1,small\n2,{big}\n3,tail\n")
    t = dio.read(str(p))
    assert t.column("id").to_pylist() == [1, 2, 3]
    assert len(t.column("blob")[1].as_py()) == len(big)
    j = tmp_path / "huge.ndjson"
    j.write_text(json.dumps({"id": 1, "blob": big}) + "\n")
    assert len(dio.read(str(j)).column("blob")[0].as_py()) == len(big)


def test_type_change_mid_file_widens(tmp_path: Path) -> None:
    p = tmp_path / "drift.csv"
    rows = [f"{i},{i}" for i in range(5000)]
    p.write_text("a,b\n" + "\n".join(rows) + "\n1.5,oops\n")
    src = _source(str(p), block_size=4096)  # the change is many blocks after inference
    t = pa.Table.from_batches(list(src.batches()))
    assert t.schema.field("a").type == pa.float64()
    assert t.schema.field("b").type == pa.string()
    assert t.column("a")[-1].as_py() == 1.5 and t.column("b")[-1].as_py() == "oops"
    assert t.column("b").null_count == 0
    assert any("'b'" in n and "string" in n for n in src.notes)
    assert any("'a'" in n and "double" in n for n in src.notes)
    # beyond the look-ahead window the reader refuses instead of guessing
    with pytest.raises(UsageError, match=r"column 'a' changes type after the first \d+ rows.*"
                                         r"types="):
        list(_source(str(p), block_size=4096, infer_window_mb=0.001).batches())
    t = dio.read(str(p), types={"a": "string", "b": "string"}, block_size=4096)
    assert t.column("a")[-1].as_py() == "1.5"


def test_whole_read_equals_streaming_read_and_falls_back_on_type_change(tmp_path: Path) -> None:
    # io.read parses a CSV in one go with the first block's types; it must hand back what
    # the streaming reader does, and take the streaming path (widening, notes) when a
    # later value does not fit
    p = tmp_path / "mixed.csv"
    lines = [f'{i},{i * 0.5},"a, {i}",{"" if i % 7 else "x"},2024-01-{1 + i % 28:02d}'
             for i in range(20_000)]
    p.write_text("i,f,s,maybe,d\n" + "\n".join(lines) + "\n")
    whole = dio.read(str(p), block_size=65536)
    streamed = pa.Table.from_batches(list(_source(str(p), block_size=65536).batches()))
    assert whole.equals(streamed)
    drift = tmp_path / "drift.csv"
    drift.write_text("a,b\n" + "\n".join(f"{i},{i}" for i in range(5000)) + "\n1.5,oops\n")
    src = _source(str(drift), block_size=4096)
    t = pa.Table.from_batches(list(src.batches(whole=True)))
    assert t.schema.field("a").type == pa.float64() and t.schema.field("b").type == pa.string()
    assert any("'b'" in n and "string" in n for n in src.notes)


def test_whole_read_keeps_types_of_duplicate_column_names(tmp_path: Path) -> None:
    # two columns named 'a' (int, then float): one type per name must not widen the first
    p = tmp_path / "dup.csv"
    p.write_text("a,b,a\n1,x,1.5\n2,y,2.5\n")
    whole = pa.Table.from_batches(list(_source(str(p)).batches(whole=True)))
    streamed = pa.Table.from_batches(list(_source(str(p)).batches()))
    assert whole.schema == streamed.schema
    assert whole.schema.types[0] == pa.int64()


@pytest.mark.parametrize("block", [16, 32, 64])
def test_whole_read_falls_back_on_quoted_newlines(tmp_path: Path, block: int) -> None:
    # without newlines_in_values a quoted newline parses by where the blocks fall; the one-go
    # read must then hand back what the streaming reader does, not another split
    p = tmp_path / "nl.csv"
    p.write_text("c0\n" + '"p\nq"\nNA\n12:00:00\n1.5\n' * 6)

    def outcome(whole: bool) -> object:
        try:
            return pa.Table.from_batches(list(_source(str(p), block_size=block)
                                              .batches(whole=whole))).to_pylist()
        except UsageError as exc:
            return str(exc)

    assert outcome(True) == outcome(False)


def test_json_array_and_nested_structs(tmp_path: Path) -> None:
    p = tmp_path / "a.json"
    p.write_text(json.dumps([{"id": 1, "u": {"n": "x"}}, {"id": 2, "u": {"n": "y"}}]))
    t = dio.read(str(p))
    assert t.column("u").to_pylist() == [{"n": "x"}, {"n": "y"}]


def test_normalize_nested_ndjson(tmp_path: Path) -> None:
    p = tmp_path / "orders.ndjson"
    recs = [
        {"id": 1, "customer": {"name": "Ann", "address": {"city": "Oslo"}},
         "items": [{"sku": "A", "qty": 2, "opts": [{"k": "gift"}]}, {"sku": "B", "qty": 1}],
         "tags": ["new", "vip"]},
        {"id": 2, "customer": {"name": "Bob", "address": {"city": "Rome"}}, "items": [],
         "tags": []},
    ]
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    tables = read_tables(str(p))
    assert set(tables) == {"orders", "orders__items", "orders__items__opts", "orders__tags"}
    main = tables["orders"]
    assert {"id", "customer__name", "customer__address__city", "_dm_id"} <= set(
        main.column_names)
    assert "items" not in main.column_names
    assert main.column("customer__address__city").to_pylist() == ["Oslo", "Rome"]
    items = tables["orders__items"]
    assert items.column("sku").to_pylist() == ["A", "B"]
    assert items.column("_dm_list_idx").to_pylist() == [0, 1]
    ann = main.column("_dm_id")[0].as_py()
    assert items.column("_dm_parent_id").to_pylist() == [ann, ann]
    opts = tables["orders__items__opts"]
    assert opts.column("k").to_pylist() == ["gift"]
    assert opts.column("_dm_parent_id")[0].as_py() == items.column("_dm_id")[0].as_py()
    assert tables["orders__tags"].column("value").to_pylist() == ["new", "vip"]
    # ids are deterministic: reading again gives the same ones
    assert read_tables(str(p))["orders"].column("_dm_id").equals(main.column("_dm_id"))
    # the same through the connector contract: batches are the main table
    assert dio.read(str(p), normalize=True).column_names == main.column_names


def test_excel(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "name", "when"])
    ws.append([1, "a", None])
    ws.append([2, "b", "x"])
    other = wb.create_sheet("other")
    other.append(["k"])
    other.append([9])
    wb.save(tmp_path / "book.xlsx")
    t = dio.read(str(tmp_path / "book.xlsx"))
    assert t.column("id").to_pylist() == [1, 2] and t.column("name").to_pylist() == ["a", "b"]
    assert dio.read(str(tmp_path / "book.xlsx"), sheet="other").column("k").to_pylist() == [9]
    with pytest.raises(UsageError, match="read only"):
        dio.write(str(tmp_path / "out.xlsx"), TABLE, mode="replace")


# --------------------------------------------------------------------------- writing


def test_write_modes_on_plain_files(tmp_path: Path) -> None:
    path = str(tmp_path / "one.parquet")
    dio.write(path, TABLE)  # append to a new file creates it
    with pytest.raises(UsageError, match="cannot append to the existing file"):
        dio.write(path, TABLE)
    with pytest.raises(UsageError, match="mode='merge' needs a Delta table"):
        dio.write(path, TABLE, mode="merge", key="id")
    assert not dio.write(path, TABLE, mode="replace", load_id="R1").skipped
    assert dio.write(path, TABLE, mode="replace", load_id="R1").skipped
    assert dio.read(path).num_rows == 3


def test_folder_dataset_append_is_idempotent(tmp_path: Path) -> None:
    ds = str(tmp_path / "events") + "/"
    r1 = dio.write(ds, TABLE, load_id="0001")
    assert r1.details["path"].endswith("part-0001.parquet") and r1.rows == 3
    assert dio.write(ds, TABLE, load_id="0001").skipped
    dio.write(ds, TABLE)  # a fresh load id
    assert dio.read(ds).num_rows == 6
    dio.write(ds, TABLE.slice(0, 1), mode="replace", load_id="0003")
    assert os.listdir(ds) == ["part-0003.parquet"]
    assert dio.read(ds).num_rows == 1
    csv_ds = str(tmp_path / "csvds") + "/"
    dio.write(csv_ds, TABLE, format="csv", compression="gzip", load_id="a")
    assert os.listdir(csv_ds) == ["part-a.csv.gz"]
    assert dio.read(csv_ds).num_rows == 3


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    def boom():
        yield TABLE.to_batches()[0]
        raise RuntimeError("source died")

    path = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        dio.write(str(path), boom(), mode="replace")
    assert os.listdir(tmp_path) == []
    dio.write(str(path), TABLE, mode="replace")
    with pytest.raises(RuntimeError):
        dio.write(str(path), boom(), mode="replace")
    assert dio.read(str(path)).num_rows == 3  # the old file is intact
    assert os.listdir(tmp_path) == ["out.csv"]
    with pytest.raises(RuntimeError):
        dio.write(str(tmp_path / "ds") + "/", boom(), load_id="x")
    assert not (tmp_path / "ds").exists() or os.listdir(tmp_path / "ds") == []


def test_path_confinement(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    (root / "ok.csv").write_text("a\n1\n")
    (tmp_path / "secret.csv").write_text("a\n2\n")
    assert dio.read("ok.csv", root=str(root)).num_rows == 1
    for bad in ("../secret.csv", str(tmp_path / "secret.csv"), "sub/../../secret.csv"):
        with pytest.raises(UsageError, match="outside the allowed root"):
            dio.read(bad, root=str(root))
    with pytest.raises(UsageError, match="outside the allowed root"):
        dio.write("../evil.csv", TABLE, root=str(root), mode="replace")
    (root / "link.csv").symlink_to(tmp_path / "secret.csv")
    with pytest.raises(UsageError, match="outside the allowed root"):
        dio.read("link.csv", root=str(root))
    with pytest.raises(UsageError, match="outside the allowed root"):
        dio.read("*.csv", root=str(root))
    with pytest.raises(UsageError, match="outside the allowed root"):
        dio.read("s3://b/other/x.csv", root="s3://b/inbox")


# --------------------------------------------------------------------------- Delta


def test_delta_append_replace_merge_time_travel(tmp_path: Path) -> None:
    url = str(tmp_path / "orders.delta")
    r = dio.write(url, TABLE, load_id="load-1")
    assert r.rows == 3 and r.details["version"] == 0
    assert dio.write(url, TABLE, load_id="load-1").skipped  # a retried load
    dio.write(url, TABLE, load_id="load-2")
    assert dio.read(url).num_rows == 6
    upd = pa.table({"id": pa.array([2, 4], pa.int64()), "name": ["BETA", "delta"],
                    "score": [9.0, 4.0]})
    r = dio.write(url, upd.slice(0), mode="replace", load_id="load-3")
    assert dio.read(url).num_rows == 2
    dio.write(url, TABLE, mode="replace", load_id="load-4")
    r = dio.write(url, upd, mode="merge", key=["id"], load_id="load-5")
    assert r.rows == 2
    t = dio.read(url).sort_by("id")
    assert t.column("id").to_pylist() == [1, 2, 3, 4]
    assert t.column("name").to_pylist() == ["alpha", "BETA", "gämma", "delta"]
    assert dio.write(url, upd, mode="merge", key=["id"], load_id="load-5").skipped
    # time travel: version 1 had both appends
    assert dio.read(url, version=1).num_rows == 6
    assert dio.read(url, version=0).num_rows == 3
    with pytest.raises(UsageError, match="Delta table"):
        dio.read(url, version=99)
    assert dio.read(url, columns=["name"]).column_names == ["name"]
    # a folder with _delta_log is found as Delta without the suffix
    plain = str(tmp_path / "plain")
    dio.write(plain, TABLE, format="delta")
    assert dio.read(plain).num_rows == 3


def test_delta_on_s3(bucket: str) -> None:
    url = f"s3://{bucket}/lake/orders.delta"
    dio.write(url, TABLE, load_id="a")
    assert dio.write(url, TABLE, load_id="a").skipped
    dio.write(url, pa.table({"id": pa.array([3], pa.int64()), "name": ["C"], "score": [0.0]}),
              mode="merge", key="id", load_id="b")
    t = dio.read(url).sort_by("id")
    assert t.column("name").to_pylist() == ["alpha", "beta, with comma", "C"]
    assert dio.read(url, version=0).num_rows == 3


def test_parquet_gathers_small_batches_into_row_groups(tmp_path):
    batches = [pa.record_batch({"i": list(range(k * 1000, (k + 1) * 1000)), "s": ["x"] * 1000})
               for k in range(5)]
    one = tmp_path / "one.parquet"
    dio.write(str(one), batches)
    meta = pq.ParquetFile(one).metadata
    assert meta.num_row_groups == 1 and meta.num_rows == 5000
    small = tmp_path / "small.parquet"
    dio.write(f"{small}?row_group_size=1500", batches)
    sizes = [pq.ParquetFile(small).metadata.row_group(i).num_rows
             for i in range(pq.ParquetFile(small).metadata.num_row_groups)]
    assert sizes == [1500, 500, 1500, 500, 1000]
    assert pq.read_table(small).column("i").to_pylist() == list(range(5000))
    with pytest.raises(UsageError, match="row_group_size must be a positive"):
        dio.write(f"{tmp_path / 'bad.parquet'}?row_group_size=0", batches)


def test_polars_frame_to_parquet_same_table_and_load_id_either_writer(tmp_path):
    # a whole Polars frame goes through Polars' writer; what lands must be what the Arrow
    # writer lands, and a repeated load id is recognised the same way
    import polars as pl

    df = pl.DataFrame({"id": [1, 2, 3], "s": ["a", None, "c"], "x": [0.5, 1.5, None],
                       "d": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), None]})
    p_pl, p_pa = tmp_path / "pl.parquet", tmp_path / "pa.parquet"
    assert dio.write(str(p_pl), df, mode="replace", load_id="P1").rows == 3
    dio.write(str(p_pa), df.to_arrow(), mode="replace", load_id="P1")
    assert pq.read_table(p_pl).equals(pq.read_table(p_pa))
    assert dio.write(str(p_pl), df, mode="replace", load_id="P1").skipped
    assert not dio.write(str(p_pl), df, mode="replace", load_id="P2").skipped
    assert pq.ParquetFile(p_pl).metadata.num_row_groups == 1
    lazy = dio.write(str(tmp_path / "lazy.parquet"), df.lazy(), mode="replace")
    assert lazy.rows == 3
    assert dio.read(str(tmp_path / "lazy.parquet")).equals(pq.read_table(p_pa))
