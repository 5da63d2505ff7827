"""Table checkpoints: formats, the content hash (data version), background writes and
metas rebuilt from run-store records."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from datamill.errors import CheckpointCorruptError
from datamill.store import background
from datamill.store.artifacts import ArtifactStore, CheckpointMeta, PendingCheckpointMeta
from datamill.store.table_formats import FORMATS, content_hash

FP = "ab" * 16


@pytest.fixture
def store(tmp_path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def _table(n: int = 1000) -> pa.Table:
    return pa.table({"x": list(range(n)), "s": [f"v{i % 13}" for i in range(n)],
                     "l": [[i, None] for i in range(n)],
                     "d": pa.array([f"k{i % 3}" for i in range(n)]).dictionary_encode()})


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_and_has_the_same_data_version(store, fmt):
    t = _table()
    meta = store.write_checkpoint("p", "t", FP, t, table_format=fmt)
    assert meta.path.endswith(".parquet" if fmt == "parquet" else ".arrow")
    assert meta.data_version == content_hash(t) and meta.rows == t.num_rows
    assert store.read_meta("p", "t", FP) == meta
    back = store.load_checkpoint(meta)
    assert back.equals(t.combine_chunks()) if fmt == "parquet" else back.equals(t)


def test_content_hash_changes_with_any_value_and_is_stable():
    t = _table()
    assert content_hash(t) == content_hash(_table())
    changed = t.set_column(0, "x", pa.array([*range(999), 5]))
    assert content_hash(changed) != content_hash(t)
    nulls = t.set_column(0, "x", pa.array([*range(999), None]))
    assert content_hash(nulls) != content_hash(t)
    # a slice with the same buffers is not the same table
    assert content_hash(t.slice(1, 10)) != content_hash(t.slice(2, 10))
    nested = t.set_column(2, "l", pa.array([[i, 1] for i in range(1000)]))
    assert content_hash(nested) != content_hash(t)
    assert content_hash(t.replace_schema_metadata({"a": "b"})) != content_hash(t)


def test_a_flipped_byte_in_an_arrow_file_is_detected(store):
    meta = store.write_checkpoint("p", "t", FP, _table())
    path = store.url_for(meta.path)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    store.write_bytes(meta.path, bytes(data))
    with pytest.raises(CheckpointCorruptError):
        store.load_checkpoint(meta)


def test_a_meta_rebuilt_from_a_run_record_loads(store):
    """The run store keeps the data version, not the file checksum: the store takes the
    checksum from the slot's meta file; corrupt data is still refused."""
    meta = store.write_checkpoint("p", "t", FP, _table())
    d = meta.to_dict()
    d["checksum"] = d["data_version"]  # what runtime.rules._meta_from_record builds
    rebuilt = CheckpointMeta.from_dict(d)
    assert store.load_checkpoint(rebuilt).num_rows == 1000
    store.write_bytes(meta.path, b"ARROW1 torn")
    with pytest.raises(CheckpointCorruptError):
        store.load_checkpoint(rebuilt)


def test_a_background_write_is_waited_for_by_load_and_read_meta(store, monkeypatch):
    gate = threading.Event()
    monkeypatch.setattr(background, "_hook", lambda job: gate.wait(30))
    t = _table()
    pending = store.write_checkpoint("p", "t", FP, t, background="run-1", key="t")
    assert isinstance(pending, PendingCheckpointMeta)
    assert pending.path == "" and pending.data_version == content_hash(t)
    assert not store.exists(f"checkpoints/p/t/{FP}.meta.json")  # not durable yet
    got: list = []
    reader = threading.Thread(target=lambda: got.append(store.read_meta("p", "t", FP)))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive()  # waits for the write instead of answering "absent"
    gate.set()
    reader.join(30)
    assert got[0] is not None and got[0].data_version == pending.data_version
    assert store.load_checkpoint(pending).equals(t)
    jobs = background.drain("run-1")
    assert [j.error for j in jobs] == [None] and jobs[0].meta == got[0]


def test_a_failed_background_write_is_reported_and_not_loadable(tmp_path):
    blocked = tmp_path / "artifacts" / "checkpoints" / "p"
    blocked.mkdir(parents=True)
    (blocked / "t").write_text("a file where the task's folder goes")
    store = ArtifactStore(tmp_path / "artifacts")
    pending = store.write_checkpoint("p", "t", FP, _table(), background="run-2", key="t")
    (job,) = background.drain("run-2")
    assert isinstance(job.error, NotADirectoryError)
    with pytest.raises(CheckpointCorruptError):
        store.load_checkpoint(pending)
