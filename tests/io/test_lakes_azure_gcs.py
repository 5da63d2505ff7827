"""Lakes beyond S3: the files and lakes connector and quarantine on Azure Blob Storage
(``az://`` / ``abfs://``, Azurite) and Google Cloud Storage (``gs://``, gcp-storage-emulator),
each emulator a real server on an ephemeral loopback port (tests/conftest.py).

The same suite as S3 (tests/io/test_files.py, tests/quality/test_quarantine.py): every
format round-trips, globs, Hive partitions, folder datasets with load ids, missing buckets,
Delta tables where delta-rs reaches the emulator, quarantine files written whole.
"""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from datamill import io as dio
from datamill.errors import UsageError
from datamill.quality import Column, Contract, check
from datamill.quality.quarantine import Quarantine, read_quarantine
from datamill.store import remote

TABLE = pa.table({
    "id": pa.array([1, 2, 3], pa.int64()),
    "name": ["alpha", "beta, with comma", "gämma"],
    "score": [1.5, None, -2.25],
})


@pytest.fixture(params=["az", "abfs", "gs"])
def lake(request: pytest.FixtureRequest) -> str:
    """``<scheme>://<fresh bucket or container>`` on its emulator."""
    scheme = request.param
    name = request.getfixturevalue("gcs_bucket" if scheme == "gs" else "azure_container")
    return f"{scheme}://{name}"


@pytest.mark.parametrize("ext", ["parquet", "csv.gz", "ndjson", "json", "tfrecord", "csv"])
def test_round_trip(lake: str, ext: str) -> None:
    url = f"{lake}/in/t.{ext}"
    report = dio.write(url, TABLE, mode="replace")
    assert report.rows == 3 and report.bytes > 0
    back = dio.read(url)
    assert back.column("id").to_pylist() == [1, 2, 3]
    assert back.column("name").to_pylist() == TABLE.column("name").to_pylist()
    assert back.column("score").to_pylist() == [1.5, None, -2.25]
    with pytest.raises(UsageError, match="cannot append to the existing file"):
        dio.write(url, TABLE)


def test_glob_hive_and_folder_append(lake: str) -> None:
    for day, ids in (("2026-11-01", [1, 2]), ("2026-11-02", [3])):
        dio.write(f"{lake}/lake/date={day}/part.parquet", pa.table({"id": ids}),
                  mode="replace")
    t = dio.read(f"{lake}/lake/**/*.parquet").sort_by("id")
    assert t.column("id").to_pylist() == [1, 2, 3]
    assert t.schema.field("date").type == pa.date32()
    assert [str(d) for d in t.column("date").to_pylist()] == ["2026-11-01"] * 2 + ["2026-11-02"]
    assert dio.read(f"{lake}/lake/date=2026-11-0[2]/*.parquet").num_rows == 1
    assert dio.read(f"{lake}/lake/").num_rows == 3  # a folder of Hive partitions
    ds = f"{lake}/ds/"
    assert not dio.write(ds, TABLE, load_id="L1").skipped
    assert dio.write(ds, TABLE, load_id="L1").skipped
    dio.write(ds, TABLE, load_id="L2")
    assert dio.read(ds).num_rows == 6
    dio.write(ds, TABLE, mode="replace", load_id="L3")
    assert dio.read(ds).num_rows == 3


def test_missing_file_and_bucket(lake: str) -> None:
    scheme = lake.split("://")[0]
    with pytest.raises(UsageError, match=f"no such file.*{lake}/missing.parquet"):
        dio.read(f"{lake}/missing.parquet")
    with pytest.raises(UsageError, match="bucket 'no-such-bucket-dm' does not exist"):
        dio.read(f"{scheme}://no-such-bucket-dm/x.parquet")
    with pytest.raises(UsageError, match="bucket 'no-such-bucket-dm' does not exist"):
        dio.write(f"{scheme}://no-such-bucket-dm/x.parquet", TABLE, mode="replace")


def test_root_confinement(lake: str) -> None:
    dio.write(f"{lake}/inbox/a.csv", TABLE, mode="replace")
    assert dio.read(f"{lake}/inbox/a.csv", root=f"{lake}/inbox").num_rows == 3
    with pytest.raises(UsageError, match="outside the allowed root"):
        dio.read(f"{lake}/other/x.csv", root=f"{lake}/inbox")
    with pytest.raises(UsageError, match="outside the allowed root"):
        dio.read(f"{lake}/inbox/../other/x.csv", root=f"{lake}/inbox")


# --------------------------------------------------------------------------- Delta


def _delta_round_trip(url: str) -> None:
    dio.write(url, TABLE, load_id="a")
    assert dio.write(url, TABLE, load_id="a").skipped
    dio.write(url, pa.table({"id": pa.array([3], pa.int64()), "name": ["C"], "score": [0.0]}),
              mode="merge", key="id", load_id="b")
    t = dio.read(url).sort_by("id")
    assert t.column("name").to_pylist() == ["alpha", "beta, with comma", "C"]
    assert dio.read(url, version=0).num_rows == 3
    dio.write(url, pa.table({"id": pa.array([9], pa.int64())}), mode="replace")
    assert dio.read(url).column_names == ["id"]


@pytest.mark.parametrize("scheme", ["az", "abfs"])
def test_delta_on_azure(azure_container: str, scheme: str) -> None:
    _delta_round_trip(f"{scheme}://{azure_container}/lake/orders.delta")


def test_delta_on_gcs_reaches_the_emulator_which_lacks_the_xml_api(gcs_bucket: str,
                                                                   gcs_endpoint: str) -> None:
    """The documented gap (docs/io-files.md): delta-rs' GCS client (object_store) is pointed
    at the endpoint through ``gcs_base_url``, but lists with the XML API
    (``GET /<bucket>?list-type=2``), which gcp-storage-emulator answers 501. The failure is
    a UsageError naming the table and showing the request went to the emulator."""
    url = f"gs://{gcs_bucket}/lake/orders.delta"
    with pytest.raises(UsageError, match="Delta table") as err:
        dio.write(url, TABLE)
    text = str(err.value)
    assert url in text and f"{gcs_endpoint}/{gcs_bucket}" in text.replace("%2D", "-")
    assert "501" in text


# --------------------------------------------------------------------------- quarantine

ORDERS = Contract("orders", [Column("id", "int"), Column("qty", "int", min=0)])
BAD = pa.table({"id": [1, 2, 3], "qty": [5, -1, -2]})


def test_quarantine_write_list_and_read_back(lake: str) -> None:
    root = f"{lake}/team/lake"
    q = Quarantine(root)
    assert q.remote and q.root == root
    first = check(ORDERS, BAD, quarantine=q, source="s3://raw/orders.csv", run_id="run-7",
                  task_key="t").quarantine_path
    second = check(ORDERS, BAD, quarantine=root, source="s3://raw/orders.csv",
                   run_id="run-7", task_key="t").quarantine_path
    other = check(ORDERS, BAD, quarantine=q, source="s3://raw/orders.csv",
                  run_id="run-8").quarantine_path
    assert first.startswith(f"{root}/quarantine/raw-orders.csv/run-7-")
    assert q.files("s3://raw/orders.csv", run_id="run-7") == [first, second]
    assert q.files("s3://raw/orders.csv") == [first, second, other]
    back = read_quarantine(root, source="s3://raw/orders.csv", run_id="run-7")
    assert back.num_rows == 4 and set(back.column("id").to_pylist()) == {2, 3}
    assert read_quarantine(f"{lake}/elsewhere").num_rows == 0
    assert q.discard("s3://raw/orders.csv", "run-7") == 2
    assert q.files("s3://raw/orders.csv") == [other]


def test_quarantine_many_writers_lose_nothing(lake: str) -> None:
    q = Quarantine(f"{lake}/q")
    paths: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        p = q.write(BAD.slice(i % 3, 1), source="orders", run_id="r1")
        with lock:
            paths.append(p)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 8
    assert sorted(q.files("orders", "r1")) == sorted(paths)
    assert q.read("orders", "r1").num_rows == 8
    # nothing but whole parquet files under the folder: no temporary objects left behind
    names = q.fs.find(f"{str(q.root).split('://', 1)[1]}/quarantine")
    assert all(n.endswith(".parquet") and "/.tmp-" not in n for n in names)
    assert len(names) == 8


def test_quarantine_missing_bucket_is_a_usage_error(lake: str) -> None:
    scheme = lake.split("://")[0]
    with pytest.raises(UsageError, match="does not exist"):
        Quarantine(f"{scheme}://no-such-bucket-dm/q").write(BAD, source="orders", run_id="r1")


# --------------------------------------------------------------------------- options


def test_abfs_account_host_form_names_the_container(azure_container: str) -> None:
    url = f"abfs://{azure_container}@devstoreaccount1.dfs.core.windows.net/x/t.parquet"
    assert remote.strip("abfs", url) == f"{azure_container}/x/t.parquet"
    dio.write(url, TABLE, mode="replace")
    assert dio.read(f"az://{azure_container}/x/t.parquet").num_rows == 3
    assert dio.read(f"abfss://{azure_container}/x/*.parquet").num_rows == 3


def test_gcs_with_an_endpoint_uses_the_json_api_without_the_grpc_probe(gcs_bucket: str):
    from gcsfs.core import GCSFileSystem

    fs = remote.filesystem("gs")
    assert type(fs) is GCSFileSystem  # not ExtendedGcsFileSystem, whose probe needs gRPC
    assert fs.exists(gcs_bucket)


def test_delta_options_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                       "DefaultEndpointsProtocol=http;AccountName=acc;AccountKey=k==;"
                       "BlobEndpoint=http://127.0.0.1:1/acc;")
    opts = remote.delta_options("az")
    assert opts == {"azure_storage_account_name": "acc", "azure_storage_account_key": "k==",
                    "azure_storage_endpoint": "http://127.0.0.1:1/acc", "allow_http": "true"}
    assert remote.delta_options("abfs", "abfs://c@other.dfs.core.windows.net/t")[
        "azure_storage_account_name"] == "other"
    monkeypatch.setenv("DATAMILL_GCS_ENDPOINT_URL", "http://127.0.0.1:2")
    assert '"gcs_base_url": "http://127.0.0.1:2"' in remote.delta_options("gs")[
        "google_service_account_key"]
    assert remote.delta_options("memory") == {}


def test_missing_extra_names_the_pip_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from datamill.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "adlfs", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'datamill\[azure\]'"):
        dio.read("az://c/x.parquet")
    monkeypatch.setitem(sys.modules, "gcsfs", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'datamill\[gcs\]'"):
        Quarantine("gs://b/q")


def test_credentials_stay_out_of_logs_errors_and_reprs(azure_container: str,
                                                         caplog: pytest.LogCaptureFixture):
    import os

    from datamill.store.artifacts import ArtifactStore

    key = remote.parse_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])[
        "AccountKey"]
    assert len(key) > 20

    caplog.set_level("DEBUG")
    url = f"az://{azure_container}/secret-check/t.parquet"
    report = dio.write(url, TABLE, mode="replace")
    assert dio.read(url).num_rows == 3
    store = ArtifactStore(f"az://{azure_container}/artifacts")
    store.write_checkpoint("p", "t", "0123456789abcdef", {"a": 1})
    shown = [repr(store), repr(report), repr(Quarantine(f"az://{azure_container}/q"))]
    for bad in (f"az://{azure_container}/none.delta",  # delta-rs error text
                "az://no-such-container-dm/x.parquet"):
        with pytest.raises(UsageError) as err:
            dio.read(bad, format="delta") if bad.endswith(".delta") else dio.read(bad)
        shown.append(str(err.value))
    assert key[:20] not in caplog.text
    assert not any(key[:20] in text for text in shown)
