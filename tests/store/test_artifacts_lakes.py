"""The artifact store on Azure Blob Storage and GCS beyond the shared suite
(tests/store/test_artifacts.py runs that on az:// and gs:// too): large checkpoints that
take the multi-part path, failed large writes, credentials kept out of what is shown."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from datamill.store import serializers as S
from datamill.store.artifacts import ArtifactStore

FP = "0123456789abcdef"


@pytest.fixture(params=["s3", "az", "gs"])
def remote_store(request: pytest.FixtureRequest) -> ArtifactStore:
    if request.param == "s3":
        return ArtifactStore(f"s3://{request.getfixturevalue('s3_bucket')}/artifacts")
    if request.param == "az":
        return ArtifactStore(f"az://{request.getfixturevalue('azure_container')}/artifacts")
    return ArtifactStore(f"gs://{request.getfixturevalue('gcs_bucket')}/artifacts")


def test_large_checkpoint_round_trips(remote_store: ArtifactStore) -> None:
    big = np.arange(2_000_000, dtype=np.float64)  # 16 MB: multipart / blocks / resumable
    meta = remote_store.write_checkpoint("p", "t", FP, big)
    assert meta.bytes > 15 * 2**20
    back = remote_store.load_checkpoint(remote_store.read_meta("p", "t", FP))
    assert np.array_equal(back, big)
    clone = pickle.loads(pickle.dumps(remote_store))
    assert np.array_equal(clone.load_checkpoint(clone.read_meta("p", "t", FP)), big)


@pytest.mark.slow  # gcsfs retries the emulator's 501 to the abort 6 times (about 30 s)
def test_failed_large_write_raises_its_own_error_and_leaves_nothing(
        remote_store: ArtifactStore) -> None:
    def dump(value, f):
        for _ in range(12):
            f.write(b"x" * 2**20)  # past every store's single-upload size
        raise RuntimeError("serializer died half-way")

    S.register(S.Serializer("halfway-big", "bin", dump, bytes), replace=True)
    try:
        remote_store.write_checkpoint("p", "t", FP, "before")
        with pytest.raises(RuntimeError, match="half-way"):
            remote_store.write_checkpoint("p", "t", FP, "x", serializer="halfway-big")
    finally:
        S._ORDER.remove(S._REGISTRY.pop("halfway-big"))
    assert not remote_store.exists(f"checkpoints/p/t/{FP}.bin")
    assert remote_store.load_checkpoint(remote_store.read_meta("p", "t", FP)) == "before"
