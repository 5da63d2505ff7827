"""A meta file is checked against its slot before it is believed (store/checkpoint_meta.py).

The artifact store can be shared and written by others: another task's checkpoint copied
into a slot, a meta file pointing at another file, or a meta file rewritten to
``type_tag: pickle`` must count as corrupt (recomputed, with a warning), never be used.
"""

from __future__ import annotations

import base64
import json
import logging
import pickle
from pathlib import Path

import pytest
import xxhash

from datamill import run, task
from datamill.store.artifacts import ArtifactStore
from datamill.store.records import State

FP_A, FP_B = "a" * 16, "b" * 16


@pytest.fixture
def local(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_seen():
    h = _Warnings()
    lg = logging.getLogger("datamill.run.checkpoint")
    lg.addHandler(h)
    try:
        yield h.messages
    finally:
        lg.removeHandler(h)


def _meta_file(store: ArtifactStore, pipeline: str, task_: str, fp: str) -> Path:
    return Path(store.root) / "checkpoints" / pipeline / task_ / f"{fp}.meta.json"


# --------------------------------------------------------------------------- store level


def test_meta_copied_from_another_task_is_not_this_slots(local, warnings_seen):
    local.write_checkpoint("p", "a", FP_A, {"who": "a"})
    dst = _meta_file(local, "p", "b", FP_B)
    dst.parent.mkdir(parents=True)
    dst.write_bytes(_meta_file(local, "p", "a", FP_A).read_bytes())
    assert local.read_meta("p", "b", FP_B) is None
    assert any("p/a, not of p/b" in m for m in warnings_seen)
    assert local.read_meta("p", "a", FP_A) is not None


def test_meta_of_another_fingerprint_is_not_this_slots(local, warnings_seen):
    local.write_checkpoint("p", "a", FP_A, {"v": 1})
    src = _meta_file(local, "p", "a", FP_A)
    doc = json.loads(src.read_bytes())
    doc["path"] = doc["path"].replace(FP_A, FP_B)
    _meta_file(local, "p", "a", FP_B).write_text(json.dumps(doc))
    assert local.read_meta("p", "a", FP_B) is None
    assert any("fingerprint" in m for m in warnings_seen)


def test_meta_pointing_outside_its_slot_is_ignored_and_never_followed(local, tmp_path):
    big = ArtifactStore(local.root, inline_max_bytes=0)
    big.write_checkpoint("p", "a", FP_A, {"v": list(range(10))})
    local.write_bytes("reports/keep.html", b"<p>keep</p>")
    meta_path = _meta_file(local, "p", "a", FP_A)
    doc = json.loads(meta_path.read_bytes())
    doc["path"] = "reports/keep.html"
    meta_path.write_text(json.dumps(doc))
    assert local.read_meta("p", "a", FP_A) is None
    local.delete_checkpoint(f"checkpoints/p/a/{FP_A}.meta.json")
    local.gc(referenced=[], older_than_s=None)
    assert local.read_bytes("reports/keep.html") == b"<p>keep</p>"  # not deleted through it


def test_pickle_tag_needs_the_tasks_declaration(local, warnings_seen):
    local.write_checkpoint("p", "t", FP_A, {"f": 1}, serializer="pickle")
    assert local.read_meta("p", "t", FP_A) is None  # task declares no pickle: refused
    assert any("can run code" in m for m in warnings_seen)
    meta = local.read_meta("p", "t", FP_A, serializer="pickle")
    assert meta is not None and local.load_checkpoint(meta) == {"f": 1}
    local.write_checkpoint("p", "u", FP_A, {"f": 1})
    assert local.read_meta("p", "u", FP_A, serializer="pickle") is None  # not what it declares


# --------------------------------------------------------------------------- through a run


def test_checkpoint_of_task_a_copied_into_bs_slot_is_recomputed(project, warnings_seen):
    @task(version="1")
    def a():
        return {"who": "a"}

    @task(version="1")
    def b():
        return {"who": "b"}

    @task
    def c(b, k: int = 1):
        return b["who"] * k

    r1 = run([a, b, c])
    assert r1.ok and r1["c"] == "b"
    root = project / ".datamill" / "artifacts"
    (root / r1.tasks["b"].meta.meta_path).write_bytes(
        (root / r1.tasks["a"].meta.meta_path).read_bytes())
    r2 = run([a, b, c], {"k": 2})
    assert r2.ok
    assert r2.tasks["a"].state == State.CACHED
    assert r2.tasks["b"].state == State.SUCCEEDED  # recomputed, not a's output
    assert r2["c"] == "bb"
    assert any("not trusted" in m and "/b/" in m for m in warnings_seen)
    r3 = run([a, b, c], {"k": 3})  # the rewritten checkpoint is b's own again
    assert r3.tasks["b"].state == State.CACHED and r3["c"] == "bbb"


class _Evil:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_meta_rewritten_to_pickle_does_not_run_code(project, tmp_path, warnings_seen):
    marker = tmp_path / "pwned"

    @task(version="1")
    def a():
        return {"v": 1}

    @task
    def b(a, k: int = 1):
        return a["v"] * k

    r1 = run([a, b])
    assert r1.ok and r1["b"] == 1
    meta_file = project / ".datamill" / "artifacts" / r1.tasks["a"].meta.meta_path
    doc = json.loads(meta_file.read_bytes())
    payload = pickle.dumps(_Evil(marker))
    doc.update(type_tag="pickle", inline=base64.b64encode(payload).decode(),
               checksum=xxhash.xxh3_128_hexdigest(payload))  # data_version kept: b's inputs look unchanged
    meta_file.write_text(json.dumps(doc))
    r2 = run([a, b], {"k": 5})
    assert not marker.exists()
    assert r2.ok and r2["b"] == 5
    assert r2.tasks["a"].state == State.SUCCEEDED  # recomputed
    assert any("pickle" in m and "can run code" in m for m in warnings_seen)
