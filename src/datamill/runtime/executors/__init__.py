"""Executors: where task attempts run. ``local`` (threads + processes) or Dask."""

from __future__ import annotations

from typing import Any

from datamill.errors import UsageError


def make_executor(spec: str | Any = "local", workers: int | None = None) -> Any:
    """``local``, ``dask`` (a LocalCluster) or ``dask://HOST:PORT`` (a running scheduler)."""
    if not isinstance(spec, str):
        return spec
    if spec in ("local", "", None):
        from datamill.runtime.executors.local import LocalExecutor

        return LocalExecutor(workers)
    if spec == "dask" or spec.startswith("dask://") or spec.startswith("tcp://"):
        from datamill.runtime.executors.dask import DaskExecutor

        address = None if spec == "dask" else "tcp://" + spec.split("://", 1)[1]
        return DaskExecutor(address, workers)
    raise UsageError(f"unknown executor {spec!r}: use local, dask or dask://HOST:PORT")
