"""Delta Lake tables through the ``deltalake`` package: ACID commits, merge, time travel.

A location is a Delta table when ``format=delta``, its path ends with ``.delta``, or it holds
a ``_delta_log`` folder. Reads take ``version=`` (an int) for time travel. Writes commit
once: ``append``, ``replace`` (overwrite, schema included) or ``merge`` on key columns
(update matched rows, insert the others). The load id goes into the commit's custom
metadata (``datamill.load_id``), so a retried load is recognised and skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import UsageError
from datamill.io.base import WriteReport

LOAD_ID_KEY = "datamill.load_id"


def storage_options(storage: Any, path: str | None = None) -> dict[str, str]:
    """delta-rs options (S3, Azure, GCS) from the same environment the rest of datamill
    reads (``datamill.store.remote``)."""
    if storage.local:
        return {}
    from datamill.store import remote

    return remote.delta_options(storage.scheme, path)


def _uri(storage: Any, path: str) -> str:
    return path.rstrip("/") if storage.local else f"{storage.scheme}://{path.rstrip('/')}"


class DeltaSource:
    """Batches of a Delta table (optionally at ``version=``)."""

    def __init__(self, loc: Any, storage: Any, path: str):
        self.location, self.storage, self.path = loc, storage, path
        self.format = "delta"
        self.rejected: list[Any] = []
        self.notes: list[str] = []
        self._table: Any = None

    def _dt(self) -> Any:
        if self._table is None:
            from deltalake import DeltaTable

            version = self.location.options.get("version")
            uri = _uri(self.storage, self.path)
            opts = storage_options(self.storage, self.location.path)
            try:
                self._table = DeltaTable(uri, version=int(version) if version is not None
                                         else None, storage_options=opts)
            except Exception as exc:  # noqa: BLE001 - TableNotFoundError, version errors
                what = f" at version {version}" if version is not None else ""
                raise UsageError(f"cannot open the Delta table {self.location.display}{what}: "
                                 f"{exc}") from exc
        return self._table

    def table_name(self) -> str:
        import posixpath

        base = posixpath.basename(self.path.rstrip("/"))
        return base.removesuffix(".delta") or "data"

    def schema(self) -> Any:
        return self._dt().to_pyarrow_dataset().schema

    def batches(self, *, columns: list[str] | None = None,
                batch_size: int = 100_000) -> Iterator[Any]:
        ds = self._dt().to_pyarrow_dataset()
        missing = [c for c in columns or [] if c not in ds.schema.names]
        if missing:
            raise UsageError(f"{self.location.display} has no column(s) {missing}")
        yield from ds.to_batches(columns=columns, batch_size=batch_size)

    def read_table(self) -> Any:
        return self._dt().to_pyarrow_dataset().to_table()

    def tables(self) -> dict[str, Any]:
        return {self.table_name(): self.read_table()}


class DeltaSink:
    """Commits batches to a Delta table in one transaction."""

    def __init__(self, loc: Any, storage: Any, path: str):
        self.location, self.storage, self.path = loc, storage, path

    def _existing(self) -> Any | None:
        from deltalake import DeltaTable

        uri = _uri(self.storage, self.path)
        opts = storage_options(self.storage, self.location.path)
        try:
            if not DeltaTable.is_deltatable(uri, storage_options=opts):
                return None
            return DeltaTable(uri, storage_options=opts)
        except Exception as exc:  # noqa: BLE001 - delta-rs raises OSError / its own types
            raise UsageError(f"cannot open the Delta table {self.location.display}: "
                             f"{exc}") from exc

    def write(self, batches: Iterable[Any], *, mode: str = "append",
              key: list[str] | None = None, load_id: str | None = None) -> WriteReport:
        import pyarrow as pa
        from deltalake import CommitProperties, write_deltalake

        from datamill.io.files import new_load_id

        lid = load_id or new_load_id()
        report = WriteReport(dataset=self.location.dataset, mode=mode, load_id=lid)
        if self.storage.bucket_missing(self.path):
            raise UsageError(f"bucket {self.path.split('/', 1)[0]!r} does not exist: cannot "
                             f"write {self.location.display}")
        dt = self._existing()
        if dt is not None and load_id is not None and _loaded(dt, load_id):
            report.skipped = True
            report.details["version"] = dt.version()
            return report
        it = iter(batches)
        first = next(it, None)
        if first is None:
            if dt is None or mode != "replace":
                return report  # nothing to commit
            first = dt.to_pyarrow_dataset().schema.empty_table().to_batches()
            first = first[0] if first else None
            if first is None:
                return report
        counter = [0]

        def counted() -> Iterator[Any]:
            for b in (first, *()):
                counter[0] += b.num_rows
                yield b
            for b in it:
                counter[0] += b.num_rows
                yield b

        reader = pa.RecordBatchReader.from_batches(first.schema, counted())
        commit = CommitProperties(custom_metadata={LOAD_ID_KEY: lid})
        uri = _uri(self.storage, self.path)
        opts = storage_options(self.storage, self.location.path)
        try:
            if mode == "merge":
                if not key:
                    raise UsageError("mode='merge' needs key columns (key=['id'])")
                missing = [k for k in key if k not in first.schema.names]
                if missing:
                    raise UsageError(f"merge key column(s) {missing} are not in the data")
                if dt is None:
                    write_deltalake(uri, reader, mode="append", storage_options=opts,
                                    commit_properties=commit)
                else:
                    pred = " AND ".join(f's."{k}" = t."{k}"' for k in key)
                    dt.merge(reader, predicate=pred, source_alias="s", target_alias="t",
                             commit_properties=commit) \
                        .when_matched_update_all().when_not_matched_insert_all().execute()
            else:
                write_deltalake(uri, reader, mode="overwrite" if mode == "replace" else "append",
                                schema_mode="overwrite" if mode == "replace" else None,
                                storage_options=opts, commit_properties=commit)
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - delta-rs raises its own types
            raise UsageError(f"writing the Delta table {self.location.display} failed "
                             f"({mode}): {exc}") from exc
        report.rows = counter[0]
        after = self._existing()
        if after is not None:
            report.details["version"] = after.version()
        return report


def _loaded(dt: Any, load_id: str) -> bool:
    return any(entry.get(LOAD_ID_KEY) == load_id for entry in dt.history())
