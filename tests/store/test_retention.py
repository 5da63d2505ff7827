"""The retention policy (store/retention.py): which runs go, with their logs, local or on S3."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from datamill.errors import UsageError
from datamill.store.artifacts import ArtifactStore
from datamill.store.records import RunRecord, State, TaskRunRecord, utcnow
from datamill.store.retention import apply_retention, delete_run_logs, policy
from datamill.store.runstore import RunStore


@pytest.fixture(params=["local", "s3"])
def arts(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "s3":  # moto in server mode (tests/conftest.py)
        return ArtifactStore(f"s3://{request.getfixturevalue('s3_bucket')}/team/artifacts")
    return ArtifactStore(str(tmp_path / "artifacts"))


def _runs(store: RunStore, arts: ArtifactStore, n: int) -> list[str]:
    """``n`` finished runs of one pipeline, oldest first, each with two log files."""
    now = utcnow()
    ids = []
    for i in range(n):
        rid = f"r{i}"
        store.create_run(RunRecord(rid, "sales", state=State.SUCCEEDED,
                                   created_at=now - timedelta(days=n - i)))
        store.upsert_task_runs([TaskRunRecord(rid, "t", "t", State.SUCCEEDED)])
        arts.write_bytes(f"logs/{rid}/t/1.jsonl", b'{"event": "x"}\n')
        arts.write_bytes(f"logs/{rid}/t/2.jsonl", b'{"event": "y"}\n')
        ids.append(rid)
    return ids


def test_retention_deletes_runs_and_their_logs(store: RunStore, arts: ArtifactStore) -> None:
    """Logs go with their runs on a remote artifact root too (they used to stay on S3)."""
    ids = _runs(store, arts, 4)
    dry = apply_retention(store, arts, keep_last=1, dry_run=True)
    assert dry.run_ids == ids[:3] and dry.log_files_deleted == 0
    assert all(arts.exists(f"logs/{rid}/t/1.jsonl") for rid in ids)

    report = apply_retention(store, arts, keep_last=1)
    assert report.run_ids == ids[:3] and report.log_files_deleted == 6
    assert [r.run_id for r in store.list_runs()] == ["r3"]
    for rid in ids[:3]:
        assert not arts.exists(f"logs/{rid}/t/1.jsonl")
        assert not arts.exists(f"logs/{rid}/t/2.jsonl")
    assert arts.exists("logs/r3/t/1.jsonl") and arts.exists("logs/r3/t/2.jsonl")
    assert report.to_dict()["runs_deleted"] == 3
    assert report.to_dict()["policy"] == {"keep_last": 1, "older_than": None}


def test_delete_run_logs_of_a_run_without_logs(arts: ArtifactStore) -> None:
    assert delete_run_logs(arts, "never-ran") == 0


def test_the_policy_comes_from_the_call_then_the_config_then_keep_20() -> None:
    assert policy({"retention": {"keep_last": 5}}, 2, None) == (2, None)
    assert policy({"retention": {"keep_last": 5}}, None, "7d") == (None, "7d")
    assert policy({"retention": {"older_than": "30d"}}, None, None) == (None, "30d")
    assert policy({}, None, None) == (20, None)
    assert policy(None, None, None) == (20, None)


def test_older_than_from_config(tmp_path: Path) -> None:
    arts = ArtifactStore(str(tmp_path / "artifacts"))
    with RunStore.open(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        _runs(store, arts, 3)  # 3, 2 and 1 days old
        report = apply_retention(store, arts, config={"retention": {"older_than": "36h"}})
        assert report.run_ids == ["r0", "r1"] and report.older_than == "36h"
        with pytest.raises(UsageError, match="--older-than 'forever'"):
            apply_retention(store, arts, older_than="forever")
