"""The Dask executor: attempts run on Dask workers (a LocalCluster or a running scheduler).

Workers load inputs from and write outputs to the artifact store themselves, so the
store must be reachable from every worker: a local folder is accepted only when every
worker sees the same folder (checked with a marker file at start).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from datamill.errors import MissingExtraError, UsageError
from datamill.runtime.calls import TaskCall
from datamill.runtime.executors.base import OnDone, OnStart


def _check_marker(path: str, token: str) -> bool:
    try:
        with open(path) as f:
            return f.read() == token
    except OSError:
        return False


class DaskExecutor:
    name = "dask"
    enforces_timeouts = True  # a task's timeout counts from its start on the worker

    def __init__(self, address: str | None = None, workers: int | None = None):
        self.address = address
        self.workers = workers
        self.client: Any = None
        self.cluster: Any = None

    def is_remote(self, run_in: str) -> bool:
        return True

    def start(self) -> None:
        if self.client is not None:
            return
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise MissingExtraError("distributed", "dask", "the Dask executor") from exc
        import dask

        dask.config.set({"distributed.worker.daemon": False})
        if self.address:
            try:
                timeout = os.environ.get("DATAMILL_DASK_CONNECT_TIMEOUT", "10s")
                self.client = Client(self.address, timeout=timeout)
            except OSError as exc:
                raise UsageError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from None
        else:
            n = self.workers or min(4, os.cpu_count() or 2)
            self.cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                host="127.0.0.1",
            )
            self.client = Client(self.cluster)

    def check_artifacts(self, artifacts: Any) -> None:
        self.start()
        if not artifacts.is_local:
            return
        marker = os.path.join(artifacts.root, f".dask-check-{uuid.uuid4().hex}")
        token = uuid.uuid4().hex
        os.makedirs(artifacts.root, exist_ok=True)
        with open(marker, "w") as f:
            f.write(token)
        try:
            seen = self.client.run(_check_marker, marker, token)
        finally:
            os.unlink(marker)
        blind = [w for w, ok in seen.items() if not ok]
        if blind:
            raise UsageError(
                f"the artifact store is the local folder {artifacts.root}, which Dask worker(s) "
                f"{', '.join(blind)} cannot see; set DATAMILL_ARTIFACTS to a shared location "
                "(s3://bucket/prefix or a shared filesystem path)"
            )

    def submit(self, call: TaskCall, run_in: str, on_done: OnDone, on_start: OnStart = None) -> Any:
        from datamill.runtime.worker import execute_remote

        fut = self.client.submit(execute_remote, call, True, pure=False,
                                 key=f"{call.key}-{call.run_id}-{call.attempt}-{uuid.uuid4().hex[:6]}")

        def done(f: Any) -> None:
            if f.status == "cancelled":
                return
            try:
                on_done(call, f.result())
            except BaseException as exc:  # noqa: BLE001
                on_done(call, exc)

        fut.add_done_callback(done)
        return fut

    def cancel(self, handle: Any) -> None:
        try:
            handle.cancel()
        except Exception:  # noqa: BLE001
            pass

    def shutdown(self, cancel: bool = False) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
