"""The artifact store: checkpoints written atomically, verified on load, confined, collected.

Most tests run on a local folder, on S3 (moto's server), on Azure Blob Storage (Azurite) and
on Google Cloud Storage (gcp-storage-emulator), each server on a loopback port.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import xxhash

from datamill.errors import CheckpointCorruptError, SerializationError
from datamill.store import artifacts as A
from datamill.store import serializers as S
from datamill.store.artifacts import ArtifactPathError, ArtifactStore, CheckpointMeta
from datamill.store.serializers import get_serializer
from datamill.store.table_formats import content_hash

FP = "0123456789abcdef"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def s3_root(s3_bucket: str) -> str:
    """A fresh bucket on the moto server, with the env a user would set."""
    bucket = s3_bucket
    return f"s3://{bucket}/team/artifacts"


@pytest.fixture(params=["local", "s3", "az", "gs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    if request.param == "az":  # Azurite; gs: gcp-storage-emulator (tests/conftest.py)
        return ArtifactStore(f"az://{request.getfixturevalue('azure_container')}/artifacts")
    if request.param == "gs":
        return ArtifactStore(f"gs://{request.getfixturevalue('gcs_bucket')}/artifacts")
    return ArtifactStore(request.getfixturevalue("s3_root"))


@pytest.fixture
def local(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


def _files(store: ArtifactStore) -> ArtifactStore:
    """The same store with inline storage off: every checkpoint gets a data file."""
    return ArtifactStore(store.root, inline_max_bytes=0)


def _payload(store: ArtifactStore, meta: CheckpointMeta) -> bytes:
    """The serialised data of a checkpoint, from its data file or inside its meta file."""
    import base64
    import json

    raw = store.read_bytes(meta.path)
    return base64.b64decode(json.loads(raw)["inline"]) if meta.is_inline else raw


def _age(store: ArtifactStore, rel: str, seconds: float) -> None:
    """Make a local file look ``seconds`` old."""
    t = time.time() - seconds
    os.utime(store.url_for(rel), (t, t))


# --------------------------------------------------------------------------- basics


def test_root_and_urls(tmp_path: Path, s3_root: str):
    loc = ArtifactStore(str(tmp_path / "a"))
    assert loc.is_local and loc.root == str(tmp_path / "a")
    assert loc.url_for("logs/r1/t.jsonl") == str(tmp_path / "a" / "logs" / "r1" / "t.jsonl")
    assert ArtifactStore(f"file://{tmp_path}/a").root == str(tmp_path / "a")

    remote = ArtifactStore(s3_root + "/")
    assert not remote.is_local and remote.root == s3_root
    assert remote.url_for("reports/x.html") == f"{s3_root}/reports/x.html"


def test_store_pickles_for_process_executors(store: ArtifactStore):
    meta = store.write_checkpoint("p", "t", FP, {"a": 1})
    clone = pickle.loads(pickle.dumps(store))
    assert clone.root == store.root
    assert clone.load_checkpoint(clone.read_meta("p", "t", FP)) == {"a": 1}
    assert clone.read_meta("p", "t", FP) == meta


@pytest.mark.parametrize(
    "value, tag, rows",
    [
        ({"n": 1, "t": (1, 2), 3: {4}, "d": dt.date(2024, 1, 2)}, "json", None),
        (None, "json", None),
        (b"\x00raw", "bytes", None),
        (np.arange(6.0).reshape(2, 3), "numpy", None),
        (pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}, index=["x", "y"]), "pandas", 2),
        (pd.Series([1.5, 2.5], name="s"), "pandas.series", 2),
        (pl.DataFrame({"a": [1, 2, 3]}), "polars", 3),
        (pa.table({"a": ["x", "y"]}), "arrow", 2),
    ],
)
def test_checkpoint_roundtrip(store: ArtifactStore, value, tag, rows):
    meta = store.write_checkpoint("sales", "clean", FP, value)
    assert meta.type_tag == tag and meta.rows == rows
    assert meta.path.startswith("checkpoints/sales/clean/" + FP + ".")
    assert meta.meta_path == f"checkpoints/sales/clean/{FP}.meta.json"
    assert meta.is_inline == (tag in ("json", "bytes"))  # small in-memory payloads
    assert (meta.path == meta.meta_path) == meta.is_inline
    data = _payload(store, meta)
    assert meta.bytes == len(data)
    assert meta.checksum == xxhash.xxh3_128_hexdigest(data)
    if rows is None:  # the data version of a value is the hash of its file
        assert meta.data_version == meta.checksum
    else:  # of a table, the hash of its Arrow buffers, known before the file is written
        table = get_serializer(tag).to_table(value)
        assert meta.data_version == content_hash(table) != meta.checksum
        assert meta.path.endswith(".arrow")  # the default table format
    assert (meta.pipeline, meta.task, meta.fingerprint) == ("sales", "clean", FP)

    read = store.read_meta("sales", "clean", FP)
    assert read == meta
    back = store.load_checkpoint(read)
    assert type(back) is type(value)
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(back, value)
    elif isinstance(value, pd.Series):
        pd.testing.assert_series_equal(back, value)
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, pl.DataFrame | pa.Table):
        assert back.equals(value)
    else:
        assert back == value


def test_data_version_is_a_content_hash(store: ArtifactStore):
    a = store.write_checkpoint("p", "t", "fp1", {"x": [1, 2]})
    b = store.write_checkpoint("p", "t2", "fp2", {"x": [1, 2]})
    c = store.write_checkpoint("p", "t", "fp3", {"x": [1, 3]})
    assert a.data_version == b.data_version != c.data_version


def test_read_meta_absent_is_none(store: ArtifactStore):
    assert store.read_meta("p", "t", FP) is None
    store.write_checkpoint("p", "t", FP, 1)
    assert store.read_meta("p", "t", "ffff") is None
    assert store.read_meta("p", "other", FP) is None


def test_rewrite_same_fingerprint_replaces(store: ArtifactStore):
    store.write_checkpoint("p", "t", FP, "first")
    meta = store.write_checkpoint("p", "t", FP, "second")
    assert store.load_checkpoint(store.read_meta("p", "t", FP)) == "second"
    assert store.read_meta("p", "t", FP) == meta


def test_iter_checkpoints_lists_complete_ones(store: ArtifactStore):
    metas = {store.write_checkpoint("p", f"t{i}", FP, i) for i in range(3)}
    metas.add(store.write_checkpoint("q", "t0", "beef", [1]))
    store.write_bytes("logs/r/t.jsonl", b"{}\n")
    assert set(store.iter_checkpoints()) == metas


def test_meta_file_is_plain_json(store: ArtifactStore):
    import json

    meta = _files(store).write_checkpoint("p", "t", FP, [1])
    doc = json.loads(store.read_bytes(meta.meta_path))
    assert doc["checksum"] == meta.checksum and doc["algo"] == "xxh3_128" and doc["format"] == 1
    assert "inline" not in doc and CheckpointMeta.from_dict(doc) == meta

    inline = store.write_checkpoint("p", "t", "ab12", [1])
    doc = json.loads(store.read_bytes(inline.meta_path))
    assert doc["format"] == 2 and doc["path"] == inline.meta_path
    assert doc["checksum"] == inline.checksum == meta.checksum  # same data, same version
    assert CheckpointMeta.from_dict(doc) == inline


# --------------------------------------------------------------------------- corruption


@pytest.mark.parametrize(
    "value",
    [pd.DataFrame({"a": range(100)}), "v" * 100],  # the str still decodes: only the hash knows
    ids=["parquet", "json"],
)
def test_flipped_byte_is_detected(store: ArtifactStore, value):
    store = _files(store)
    meta = store.write_checkpoint("p", "t", FP, value)
    data = bytearray(store.read_bytes(meta.path))
    data[len(data) // 2] ^= 0x01
    store.write_bytes(meta.path, bytes(data))
    with pytest.raises(CheckpointCorruptError) as err:
        store.load_checkpoint(meta)
    e = err.value
    assert e.task == "t" and e.expected == meta.checksum
    assert e.actual == xxhash.xxh3_128_hexdigest(bytes(data)) != e.expected
    assert meta.path in e.path and "recomputed" in str(e)


@pytest.mark.parametrize("inline", [True, False])
def test_truncated_file_is_detected(store: ArtifactStore, inline: bool):
    store = store if inline else _files(store)
    meta = store.write_checkpoint("p", "t", FP, {"k": "v" * 100})
    assert meta.is_inline == inline
    store.write_bytes(meta.path, store.read_bytes(meta.path)[:-10])
    with pytest.raises(CheckpointCorruptError):
        store.load_checkpoint(meta)


def test_missing_data_file_with_meta_present(store: ArtifactStore):
    meta = store.write_checkpoint("p", "t", FP, np.arange(5))
    assert store.delete(meta.path)
    assert store.read_meta("p", "t", FP) == meta
    with pytest.raises(CheckpointCorruptError) as err:
        store.load_checkpoint(meta)
    assert err.value.actual == "missing" and err.value.task == "t"


def test_unverified_load_still_refuses_undecodable_data(store: ArtifactStore):
    meta = store.write_checkpoint("p", "t", FP, pa.table({"a": [1, 2]}))
    store.write_bytes(meta.path, b"not parquet at all")
    with pytest.raises(CheckpointCorruptError):
        store.load_checkpoint(meta, verify=False)


def test_torn_meta_file_counts_as_absent(store: ArtifactStore):
    meta = store.write_checkpoint("p", "t", FP, 1)
    store.write_bytes(meta.meta_path, b'{"path": "checkp')
    assert store.read_meta("p", "t", FP) is None
    assert list(store.iter_checkpoints()) == []


# --------------------------------------------------------------------------- atomicity


def test_crash_between_data_and_meta_leaves_no_checkpoint(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
):
    def crash(self: CheckpointMeta, inline: bytes | None = None) -> bytes:
        raise KeyboardInterrupt("killed after the data file was written")

    monkeypatch.setattr(CheckpointMeta, "to_json", crash)
    with pytest.raises(KeyboardInterrupt):
        store.write_checkpoint("p", "t", "ab12", {"a": 1})  # inline: one file, never written
    assert not store.exists("checkpoints/p/t/ab12.json")
    assert not store.exists("checkpoints/p/t/ab12.meta.json")
    with pytest.raises(KeyboardInterrupt):
        _files(store).write_checkpoint("p", "t", FP, {"a": 1})
    monkeypatch.undo()
    assert store.exists(f"checkpoints/p/t/{FP}.json")  # the data made it ...
    assert store.read_meta("p", "t", FP) is None  # ... but the checkpoint is not done
    assert list(store.iter_checkpoints()) == []
    # the next attempt simply writes it again
    meta = store.write_checkpoint("p", "t", FP, {"a": 1})
    assert store.load_checkpoint(meta) == {"a": 1}


def _failing_serializer() -> S.Serializer:
    def dump(value, f):
        f.write(b"x" * 1000)
        raise RuntimeError("serializer died half-way")

    return S.Serializer("halfway", "bin", dump, bytes)


def test_failed_write_leaves_nothing_behind(store: ArtifactStore):
    S.register(_failing_serializer(), replace=True)
    try:
        store.write_checkpoint("p", "t", FP, "before")
        with pytest.raises(RuntimeError, match="half-way"):
            store.write_checkpoint("p", "t", FP, "anything", serializer="halfway")
    finally:
        S._ORDER.remove(S._REGISTRY.pop("halfway"))
    assert not store.exists(f"checkpoints/p/t/{FP}.bin")
    assert store.load_checkpoint(store.read_meta("p", "t", FP)) == "before"
    if store.is_local:
        leftovers = os.listdir(store.url_for("checkpoints/p/t"))
        assert leftovers == [f"{FP}.meta.json"]  # "before" is stored inline


def test_leftover_temp_files_are_ignored_and_collected(local: ArtifactStore):
    meta = local.write_checkpoint("p", "t", FP, [1, 2])
    tmp_rel = f"checkpoints/p/t/.{FP}.meta.json.123-abcd-0.tmp"
    fresh_rel = f"checkpoints/p/t/.{FP}.json.456-abcd-1.tmp"
    log_tmp = "logs/r1/.a.jsonl.1-x-0.tmp"
    for rel in (tmp_rel, fresh_rel, log_tmp):
        local.write_bytes(rel, b"partial")
    _age(local, tmp_rel, 2 * 3600)
    _age(local, log_tmp, 2 * 3600)
    assert list(local.iter_checkpoints()) == [meta]
    assert local.read_meta("p", "t", FP) == meta

    report = local.gc({meta.path})
    assert report.deleted == 2 and report.bytes_freed == 2 * len(b"partial")
    assert not local.exists(tmp_rel) and not local.exists(log_tmp)
    assert local.exists(fresh_rel)  # may belong to a write in progress
    assert local.load_checkpoint(meta) == [1, 2]


def test_fsync_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    ArtifactStore(str(tmp_path / "a")).write_checkpoint("p", "t", FP, 1)
    assert synced == []
    monkeypatch.setenv("DATAMILL_FSYNC", "1")
    st = ArtifactStore(str(tmp_path / "b"))
    st.write_checkpoint("p", "t", FP, pa.table({"a": [1]}))
    assert len(synced) >= 3  # data file, meta file, folder
    assert st.load_checkpoint(st.read_meta("p", "t", FP)).num_rows == 1


# --------------------------------------------------------------------------- confinement


@pytest.mark.parametrize(
    "rel",
    [
        "../outside.txt",
        "a/../../outside.txt",
        "reports/../..",
        "/etc/passwd",
        "C:/Windows/x",
        "s3://other-bucket/x",
        "a\\..\\b",
        "",
        ".",
        "a\x00b",
    ],
)
def test_paths_are_confined_to_the_root(store: ArtifactStore, rel: str, tmp_path: Path):
    for call in (
        lambda: store.write_bytes(rel, b"x"),
        lambda: store.read_bytes(rel),
        lambda: store.exists(rel),
        lambda: store.delete(rel),
        lambda: store.url_for(rel),
    ):
        with pytest.raises(ArtifactPathError, match="not allowed"):
            call()
    assert not (tmp_path / "outside.txt").exists()


@pytest.mark.parametrize(
    "pipeline, task, fp",
    [("../p", "t", FP), ("p", "a/b", FP), ("p", "..", FP), ("p", "t", "../x"), ("p", "t", "a.b")],
)
def test_names_cannot_escape_either(local: ArtifactStore, pipeline, task, fp):
    with pytest.raises(ArtifactPathError):
        local.write_checkpoint(pipeline, task, fp, 1)
    with pytest.raises(ArtifactPathError):
        local.read_meta(pipeline, task, fp)


def test_generic_helpers(store: ArtifactStore):
    rel = store.write_bytes("./reports//daily/summary.html", b"<h1>hi</h1>")
    assert rel == "reports/daily/summary.html"
    assert store.exists(rel) and store.read_bytes(rel) == b"<h1>hi</h1>"
    store.write_bytes(rel, b"v2")
    assert store.read_bytes(rel) == b"v2"
    assert store.delete(rel) and not store.delete(rel)
    assert not store.exists(rel)
    with pytest.raises(FileNotFoundError, match="summary.html"):
        store.read_bytes(rel)


# --------------------------------------------------------------------------- serialisation


def test_unsupported_value_names_task_and_fix(store: ArtifactStore):
    class Model:
        pass

    with pytest.raises(SerializationError) as err:
        store.write_checkpoint("p", "train", FP, Model())
    assert "'train'" in str(err.value) and "serializer='pickle'" in str(err.value)
    assert store.read_meta("p", "train", FP) is None


def test_pickle_only_when_asked(store: ArtifactStore):
    meta = store.write_checkpoint("p", "t", FP, {"f": lambda x: x + 1}, serializer="pickle")
    assert meta.type_tag == "pickle" and meta.path.endswith(".pkl")
    assert store.load_checkpoint(meta)["f"](1) == 2


def test_large_table_streams_through_the_checksum(local: ArtifactStore):
    n = 200_000
    table = pa.table({"i": np.arange(n), "x": np.random.default_rng(1).random(n)})
    meta = local.write_checkpoint("p", "big", FP, table)
    assert meta.rows == n
    assert meta.checksum == xxhash.xxh3_128_hexdigest(Path(local.url_for(meta.path)).read_bytes())
    assert local.load_checkpoint(meta).equals(table)


# --------------------------------------------------------------------------- delete, gc


def test_delete_checkpoint_by_meta_or_path(store: ArtifactStore):
    m1 = store.write_checkpoint("p", "t", "a1", 1)
    m2 = store.write_checkpoint("p", "t", "a2", 2)
    m3 = store.write_checkpoint("p", "t", "a3", 3)
    assert store.delete_checkpoint(m1)
    assert store.delete_checkpoint(m2.path)
    assert store.delete_checkpoint(m3.meta_path)
    for m in (m1, m2, m3):
        assert store.read_meta("p", "t", m.fingerprint) is None
        assert not store.exists(m.path)
    assert not store.delete_checkpoint(m1)


@pytest.mark.parametrize("inline", [True, False])
def test_gc_deletes_unreferenced_checkpoints(store: ArtifactStore, inline: bool):
    store = store if inline else _files(store)
    keep = store.write_checkpoint("p", "t", "k1", {"keep": 1})
    keep_url = store.write_checkpoint("p", "u", "k2", {"keep": 2})
    drop = store.write_checkpoint("p", "t", "d1", {"drop": True})
    assert drop.is_inline == keep.is_inline == inline
    sizes = len(store.read_bytes(drop.meta_path)) + (0 if inline else drop.bytes)

    dry = store.gc({keep.path, store.url_for(keep_url.path)}, dry_run=True)
    assert dry.deleted == 1 and store.read_meta("p", "t", "d1") == drop

    report = store.gc({keep.path, store.url_for(keep_url.path)})
    assert report.deleted == 1 and report.bytes_freed == sizes
    assert store.read_meta("p", "t", "d1") is None and not store.exists(drop.path)
    assert store.load_checkpoint(keep) == {"keep": 1}
    assert store.load_checkpoint(keep_url) == {"keep": 2}
    assert store.gc({keep.path, keep_url.path}).deleted == 0


def test_gc_respects_age_threshold(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch):
    class Clock:
        now = time.time() - 7200

        def time(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(A, "time", clock)
    old = store.write_checkpoint("p", "t", "old", 1)
    clock.now += 7200
    new = store.write_checkpoint("p", "t", "new", 2)
    assert old.created_at < new.created_at - 3600

    report = store.gc(set(), older_than_s=3600)
    assert report.deleted == 1
    assert store.read_meta("p", "t", "old") is None
    assert store.read_meta("p", "t", "new") == new


def test_gc_collects_data_whose_meta_never_came(local: ArtifactStore):
    stale = local.write_bytes(f"checkpoints/p/t/{'e' * 16}.parquet", b"orphan")
    fresh = local.write_bytes(f"checkpoints/p/t/{'f' * 16}.parquet", b"orphan")
    _age(local, stale, 2 * 3600)
    report = local.gc(set())
    assert report.deleted == 1 and report.bytes_freed == len(b"orphan")
    assert not local.exists(stale) and local.exists(fresh)


def test_gc_prunes_empty_folders(local: ArtifactStore):
    meta = local.write_checkpoint("p", "gone", FP, 1)
    local.gc(set())
    assert not os.path.exists(local.url_for("checkpoints/p/gone"))
    assert local.read_meta("p", "gone", FP) is None
    assert local.write_checkpoint("p", "gone", FP, 1) == local.read_meta("p", "gone", FP)
    assert meta.path == local.read_meta("p", "gone", FP).path


def test_gc_on_empty_store(store: ArtifactStore):
    assert store.gc(set()) == A.GcReport(deleted=0, bytes_freed=0)


# --------------------------------------------------------------------------- inline checkpoints


def _reconstructed(meta: CheckpointMeta, **kw) -> CheckpointMeta:
    """What the engine rebuilds from a run-store record (path, checksum, type tag, ...)."""
    d = dict(
        path=meta.path,
        type_tag=meta.type_tag,
        checksum=meta.data_version,
        data_version=meta.data_version,
        bytes=meta.bytes,
        rows=meta.rows,
        created_at=0.0,
        fingerprint=meta.fingerprint,
        task=meta.task,
        pipeline=meta.pipeline,
    )
    d.update(kw)
    return CheckpointMeta(**d)


def test_small_checkpoint_is_one_file(store: ArtifactStore):
    value = {"rows": 123, "when": dt.date(2024, 1, 2), "raw": b"\x00\xff"}
    meta = store.write_checkpoint("p", "t", FP, value)
    assert meta.is_inline and meta.path == meta.meta_path == f"checkpoints/p/t/{FP}.meta.json"
    assert meta.bytes == len(S.encode_json(value))
    assert meta.checksum == xxhash.xxh3_128_hexdigest(S.encode_json(value))
    assert not store.exists(f"checkpoints/p/t/{FP}.json")
    if store.is_local:
        assert os.listdir(store.url_for("checkpoints/p/t")) == [f"{FP}.meta.json"]
    assert store.read_meta("p", "t", FP) == meta
    assert store.load_checkpoint(store.read_meta("p", "t", FP)) == value
    assert store.load_checkpoint(meta, verify=False) == value
    assert list(store.iter_checkpoints()) == [meta]
    raw = store.write_checkpoint("p", "b", FP, b"\x00" * 10)
    assert raw.is_inline and store.load_checkpoint(raw) == b"\x00" * 10


def test_inline_threshold(tmp_path: Path):
    st = ArtifactStore(str(tmp_path / "a"))
    assert A.INLINE_MAX_BYTES == 8192
    at = st.write_checkpoint("p", "t", "at", b"x" * 8192)
    over = st.write_checkpoint("p", "t", "over", b"x" * 8193)
    assert at.is_inline and not over.is_inline and over.path.endswith("/over.bin")
    assert st.load_checkpoint(at) == b"x" * 8192 and st.load_checkpoint(over) == b"x" * 8193
    # streaming formats never go inline, however small
    assert not st.write_checkpoint("p", "n", "a1", np.arange(2)).is_inline
    small = ArtifactStore(str(tmp_path / "a"), inline_max_bytes=4)
    assert small.write_checkpoint("p", "t", "s1", b"1234").is_inline
    assert not small.write_checkpoint("p", "t", "s2", b"12345").is_inline
    off = pickle.loads(pickle.dumps(ArtifactStore(str(tmp_path / "a"), inline_max_bytes=0)))
    assert not off.write_checkpoint("p", "t", "o1", 1).is_inline  # survives pickling


def test_reconstructed_meta_loads_inline_checkpoint(store: ArtifactStore):
    meta = store.write_checkpoint("p", "t", FP, {"a": [1, 2]})
    assert store.load_checkpoint(_reconstructed(meta)) == {"a": [1, 2]}
    # only what the run store keeps is needed to load it
    bare = _reconstructed(meta, bytes=0, rows=None, fingerprint="", task="t", pipeline="p")
    assert store.load_checkpoint(bare) == {"a": [1, 2]}
    assert bare.meta_path == meta.meta_path
    # a data version that does not match what is stored is caught
    with pytest.raises(CheckpointCorruptError) as err:
        store.load_checkpoint(_reconstructed(meta, checksum="0" * 32))
    assert err.value.actual == meta.checksum and err.value.expected == "0" * 32
    assert store.delete_checkpoint(bare)
    assert store.read_meta("p", "t", FP) is None
    with pytest.raises(CheckpointCorruptError) as err:
        store.load_checkpoint(bare)
    assert err.value.actual == "missing"


def test_corrupt_inline_payload_is_detected(store: ArtifactStore):
    import base64
    import json

    meta = store.write_checkpoint("p", "t", FP, "v" * 100)
    doc = json.loads(store.read_bytes(meta.meta_path))
    bad = bytearray(base64.b64decode(doc["inline"]))
    bad[len(bad) // 2] ^= 0x01  # still a valid JSON string: only the hash knows
    doc["inline"] = base64.b64encode(bytes(bad)).decode()
    store.write_bytes(meta.meta_path, json.dumps(doc).encode())
    assert store.read_meta("p", "t", FP) == meta  # the meta itself is intact
    with pytest.raises(CheckpointCorruptError) as err:
        store.load_checkpoint(meta)
    assert err.value.expected == meta.checksum
    assert err.value.actual == xxhash.xxh3_128_hexdigest(bytes(bad))
    assert meta.path in err.value.path and err.value.task == "t"

    for broken in ("not base64!", None):
        doc["inline"] = broken
        store.write_bytes(meta.meta_path, json.dumps(doc).encode())
        with pytest.raises(CheckpointCorruptError) as err:
            store.load_checkpoint(meta, verify=False)
        assert err.value.actual == "unreadable"
    del doc["inline"]  # a meta path with no inline data in it
    store.write_bytes(meta.meta_path, json.dumps(doc).encode())
    with pytest.raises(CheckpointCorruptError):
        store.load_checkpoint(meta)


def test_truncated_inline_meta_counts_as_absent(store: ArtifactStore):
    meta = store.write_checkpoint("p", "t", FP, {"k": "v" * 100})
    raw = store.read_bytes(meta.meta_path)
    for cut in (1, len(raw) // 2, len(raw) - 1):
        store.write_bytes(meta.meta_path, raw[:cut])
        assert store.read_meta("p", "t", FP) is None
        assert list(store.iter_checkpoints()) == []
        with pytest.raises(CheckpointCorruptError) as err:  # a run store still pointing at it
            store.load_checkpoint(_reconstructed(meta))
        assert err.value.actual == "unreadable"
    store.write_bytes(meta.meta_path, b"")
    assert store.read_meta("p", "t", FP) is None


def test_rewrite_switches_between_inline_and_data_file(local: ArtifactStore):
    big = local.write_checkpoint("p", "t", FP, "x" * 10_000)
    assert not big.is_inline
    small = local.write_checkpoint("p", "t", FP, "y")
    assert small.is_inline and local.read_meta("p", "t", FP) == small
    assert local.load_checkpoint(small) == "y"
    _age(local, big.path, 2 * 3600)  # the old data file is now a stray, collected when old
    assert local.gc({small.path}) == A.GcReport(deleted=1, bytes_freed=big.bytes)
    assert not local.exists(big.path) and local.load_checkpoint(small) == "y"
    again = local.write_checkpoint("p", "t", FP, "x" * 10_000)
    assert local.load_checkpoint(local.read_meta("p", "t", FP)) == "x" * 10_000
    assert local.delete_checkpoint(again.path) and not local.exists(again.path)


def test_gc_keeps_referenced_inline_checkpoints(store: ArtifactStore):
    keep = store.write_checkpoint("p", "t", "k1", 1)
    keep_url = store.write_checkpoint("p", "t", "k2", 2)
    drop = store.write_checkpoint("p", "t", "d1", 3)
    data = _files(store).write_checkpoint("p", "t", "d2", 4)
    assert keep.is_inline and drop.is_inline and not data.is_inline
    referenced = {keep.path, store.url_for(keep_url.path)}
    drop_size = len(store.read_bytes(drop.meta_path))
    data_size = len(store.read_bytes(data.meta_path)) + data.bytes
    report = store.gc(referenced)
    assert report == A.GcReport(deleted=2, bytes_freed=drop_size + data_size)
    assert store.read_meta("p", "t", "d1") is None and not store.exists(drop.path)
    assert store.read_meta("p", "t", "d2") is None and not store.exists(data.path)
    assert store.load_checkpoint(store.read_meta("p", "t", "k1")) == 1
    assert store.load_checkpoint(_reconstructed(keep_url)) == 2
    assert store.gc(referenced).deleted == 0
    assert store.gc(set()).deleted == 2
