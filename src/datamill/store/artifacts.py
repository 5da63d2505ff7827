"""The artifact store: task checkpoints, logs and reports in a local folder or on S3.

A checkpoint lives under ``checkpoints/<pipeline>/<task>/``: its meta file
``<fingerprint>.meta.json`` and, unless the data is small enough to be stored inside the
meta file (inline, base64), a data file ``<fingerprint>.<ext>``. The meta file
is written last, so "the meta file exists" means "the checkpoint is complete" (Luigi's
done = output exists). Local writes go to a temp file in the same folder and are moved into
place with ``os.replace``; object stores are atomic per PUT. The xxh3-128 checksum of the
data is computed while it is written and verified when it is loaded. Tables are written
as Arrow IPC (or Parquet, per task), in the background when the caller keeps the value
in memory (``store.background``). Paths and the meta record: ``artifact_paths``; listing
and gc: ``artifact_gc``. See docs/checkpoints.md.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

import xxhash

from datamill.errors import (
    CheckpointCorruptError,
    SerializationError,
    UsageError,
)
from datamill.store import background as _bg
from datamill.store import checkpoint_meta as _cm
from datamill.store import table_formats as _tf
from datamill.store.artifact_gc import GcMixin
from datamill.store.artifact_paths import (  # noqa: F401 - re-exported, the public home
    _O_CREATE,
    _SCHEME_RE,
    CHECKPOINTS,
    INLINE_MAX_BYTES,
    META_SUFFIX,
    TMP_MAX_AGE_S,
    TMP_SUFFIX,
    ArtifactPathError,
    CheckpointMeta,
    GcReport,
    PendingCheckpointMeta,
    _HashingWriter,
    _is_tmp,
    _meta_rel,
    _meta_rel_of,
    _parse_meta,
    _stem,
    _tmp_name,
    clean_relpath,
)
from datamill.store.serializers import Serializer, get_serializer, serializer_for

log = logging.getLogger("datamill.store.artifacts")

__all__ = ["ArtifactPathError", "ArtifactStore", "CheckpointMeta", "GcReport",
           "PendingCheckpointMeta", "clean_relpath"]

_T = TypeVar("_T")


def _rebuild(
    root: str,
    fsync: bool,
    storage_options: dict[str, Any] | None,
    inline_max_bytes: int = INLINE_MAX_BYTES,
) -> ArtifactStore:
    return ArtifactStore(
        root, fsync=fsync, storage_options=storage_options, inline_max_bytes=inline_max_bytes
    )


class ArtifactStore(GcMixin):
    """Checkpoints and other artifacts under a root: a local folder or an fsspec URL.

    ``root`` is a folder path (or ``file://`` URL) or an object-store URL:
    ``s3://bucket/prefix``, ``az://container/prefix`` (also ``abfs://``) or
    ``gs://bucket/prefix``. Credentials and endpoints come from the environment, as
    ``datamill.store.remote`` describes; ``storage_options`` override it. ``fsync`` defaults to
    the ``DATAMILL_FSYNC=1`` environment variable (off: checksums guard against torn files).
    Payloads of in-memory formats up to ``inline_max_bytes`` are stored inside the meta file
    (one file per checkpoint instead of two); 0 turns that off.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        fsync: bool | None = None,
        storage_options: dict[str, Any] | None = None,
        inline_max_bytes: int = INLINE_MAX_BYTES,
    ):
        root = os.fspath(root)
        self._storage_options = storage_options
        self._inline_max = max(0, int(inline_max_bytes))
        self._fsync = os.environ.get("DATAMILL_FSYNC", "") == "1" if fsync is None else fsync
        m = _SCHEME_RE.match(root)
        scheme = m.group(1).lower() if m else None
        if scheme in (None, "file", "local"):
            local = root[m.end() :] if m else root
            self._local_root: str | None = os.path.abspath(os.path.expanduser(local))
            self._root = self._local_root
            self._fs: Any = None
            self._base = ""
            self._scheme = "file"
        else:
            from datamill.store import remote

            self._local_root = None
            self._scheme = scheme
            if remote.family(scheme) is not None:
                self._fs = remote.filesystem(scheme, root, storage_options,
                                             feature="an artifact store")
                base = remote.strip(scheme, root)
            else:  # another fsspec filesystem (memory://, ...)
                import fsspec

                self._fs, base = fsspec.core.url_to_fs(root, **(storage_options or {}))
            self._base = base.rstrip("/")
            self._root = f"{scheme}://{self._base}"

    def __reduce__(self) -> tuple[Callable[..., ArtifactStore], tuple[Any, ...]]:
        return (_rebuild, (self._root, self._fsync, self._storage_options, self._inline_max))

    def __repr__(self) -> str:
        return f"ArtifactStore({self._root!r})"

    # ----------------------------------------------------------------- properties

    @property
    def root(self) -> str:
        """The absolute local folder, or the URL of the remote root."""
        return self._root

    @property
    def is_local(self) -> bool:
        return self._local_root is not None

    def url_for(self, relpath: str) -> str:
        """Where ``relpath`` lives: an absolute local path, or a URL such as ``s3://…``."""
        rel = clean_relpath(relpath)
        if self._local_root is not None:
            return os.path.join(self._local_root, *rel.split("/"))
        return f"{self._root}/{rel}"

    def _local(self, rel: str) -> str:
        return os.path.join(self._local_root, rel)  # type: ignore[arg-type]

    def _remote(self, rel: str) -> str:
        return f"{self._base}/{rel}"

    # ----------------------------------------------------------------- low-level I/O

    def _write_local(self, rel: str, fill: Callable[[BinaryIO], _T]) -> _T:
        final = self._local(rel)
        folder, name = os.path.split(final)
        tmp = os.path.join(folder, _tmp_name(name))
        f = _create(folder, lambda: open(tmp, "xb"))
        try:
            with f:
                result = fill(f)
                if self._fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        if self._fsync:
            _fsync_dir(folder)
        return result

    def _write_local_bytes(self, rel: str, data: bytes | bytearray | memoryview) -> None:
        """Same as _write_local for bytes already in memory, with raw os calls (faster)."""
        final = self._local(rel)
        folder, name = os.path.split(final)
        tmp = os.path.join(folder, _tmp_name(name))
        fd = _create(folder, lambda: os.open(tmp, _O_CREATE, 0o666))
        try:
            try:
                view = memoryview(data).cast("B")
                while view:
                    view = view[os.write(fd, view) :]
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        if self._fsync:
            _fsync_dir(folder)

    def _write_bytes(self, rel: str, data: bytes | bytearray | memoryview) -> None:
        if self._local_root is not None:
            self._write_local_bytes(rel, data)
        else:
            self._fs.pipe_file(self._remote(rel), bytes(data))

    def _write_remote(self, rel: str, fill: Callable[[BinaryIO], _T]) -> _T:
        f = self._fs.open(self._remote(rel), "wb")
        try:
            result = fill(f)
        except BaseException:
            try:
                f.discard()  # abort a multipart upload; nothing becomes visible
            except Exception as exc:  # noqa: BLE001 - the write's own error matters more
                # an upload never completed stays invisible (the store expires it); a
                # failed abort must not hide why the write failed
                log.warning("could not abort the upload of %s (%s); it never completed, so "
                            "nothing became visible", self.url_for(rel), type(exc).__name__)
            finally:
                f.closed = True
            raise
        f.close()
        return result

    def _write(self, rel: str, fill: Callable[[BinaryIO], _T]) -> _T:
        if self._local_root is not None:
            return self._write_local(rel, fill)
        return self._write_remote(rel, fill)

    def _read(self, rel: str) -> bytes:
        """The bytes at ``rel``; FileNotFoundError when absent."""
        if self._local_root is not None:
            with open(self._local(rel), "rb") as f:
                return f.read()
        return self._fs.cat_file(self._remote(rel))

    def _delete(self, rel: str) -> bool:
        try:
            if self._local_root is not None:
                os.unlink(self._local(rel))
            else:
                path = self._remote(rel)
                if not self._fs.exists(path):  # S3 deletes are idempotent: ask first
                    return False
                self._fs.rm_file(path)
        except FileNotFoundError:
            return False
        return True

    # ----------------------------------------------------------------- generic helpers

    def write_bytes(self, relpath: str, data: bytes | bytearray | memoryview) -> str:
        """Write ``data`` atomically at ``relpath``; returns the normalised relative path."""
        rel = clean_relpath(relpath)
        self._write_bytes(rel, data)
        return rel

    def read_bytes(self, relpath: str) -> bytes:
        """The content of ``relpath``; FileNotFoundError naming its URL when absent."""
        rel = clean_relpath(relpath)
        try:
            return self._read(rel)
        except FileNotFoundError:
            raise FileNotFoundError(f"no artifact at {self.url_for(rel)}") from None

    def exists(self, relpath: str) -> bool:
        rel = clean_relpath(relpath)
        if self._local_root is not None:
            return os.path.exists(self._local(rel))
        return self._fs.exists(self._remote(rel))

    def delete(self, relpath: str) -> bool:
        """Remove ``relpath``; False when it did not exist."""
        return self._delete(clean_relpath(relpath))

    # ----------------------------------------------------------------- checkpoints

    def write_checkpoint(
        self,
        pipeline: str,
        task: str,
        fingerprint: str,
        value: Any,
        *,
        serializer: str | None = None,
        table_format: str | None = None,
        background: str | None = None,
        key: str | None = None,
    ) -> CheckpointMeta:
        """Serialise ``value`` as the checkpoint of ``task`` at ``fingerprint``.

        The format is chosen by the value's type unless ``serializer`` names a tag (e.g.
        ``"pickle"``, which is only ever used when asked for). Data first, meta last; a
        small in-memory payload is stored inside the meta file, the only file written.
        Tables are written in ``table_format`` (``arrow``, ``arrow-lz4`` or ``parquet``;
        default ``arrow``). With ``background`` (the run id), a table is written by the
        background writer and a ``PendingCheckpointMeta`` comes back at once: the caller
        must keep the value, and wait (``background.drain``) before relying on the file.
        """
        stem = _stem(pipeline, task, fingerprint)
        meta_rel = stem + META_SUFFIX
        try:
            ser: Serializer = get_serializer(serializer) if serializer else serializer_for(value)
        except SerializationError as exc:
            raise SerializationError(f"task {task!r}: {exc}") from None
        if ser.to_table is not None:
            fmt = _tf.check_format(table_format or _tf.DEFAULT_FORMAT)
            try:  # in the task's thread: an unstorable table fails the task at once
                table = ser.to_table(value)
            except SerializationError as exc:
                raise SerializationError(f"task {task!r}: {exc}") from exc.__cause__
            version = _tf.content_hash(table)
            base = dict(type_tag=ser.tag, data_version=version, rows=table.num_rows,
                        fingerprint=fingerprint, task=task, pipeline=pipeline)

            def write() -> CheckpointMeta:
                return self._write_table(stem, table, fmt, base)

            if background is None:
                return write()
            job = _bg.submit(write, root=self._root, slot=meta_rel, run_id=background,
                             key=key or task, task=task)
            pending = PendingCheckpointMeta(path="", checksum="", bytes=0,
                                            created_at=time.time(), **base)
            object.__setattr__(pending, "job", job)
            return pending
        data_rel = f"{stem}.{ser.ext}"
        inline: bytes | None = None
        try:
            if ser.dumps is not None:  # small in-memory formats: one buffer, one write
                data = ser.dumps(value)
                checksum = xxhash.xxh3_128_hexdigest(data)
                rows, nbytes = None, len(data)
                if nbytes <= self._inline_max:
                    inline, data_rel = bytes(data), meta_rel
                else:
                    self._write_bytes(data_rel, data)
            else:  # stream through the hasher while writing
                rows, nbytes, checksum = self._write_hashed(
                    data_rel, lambda w: ser.dump(value, w))  # type: ignore[arg-type]
        except SerializationError as exc:
            raise SerializationError(f"task {task!r}: {exc}") from exc.__cause__
        meta = CheckpointMeta(
            path=data_rel, type_tag=ser.tag, checksum=checksum, data_version=checksum,
            bytes=nbytes, rows=rows, created_at=time.time(), fingerprint=fingerprint,
            task=task, pipeline=pipeline,
        )
        self._write_bytes(meta_rel, meta.to_json() if inline is None else meta.to_json(inline))
        return meta

    def _write_hashed(self, rel: str, dump: Callable[[BinaryIO], int | None]
                      ) -> tuple[int | None, int, str]:
        """Write ``rel`` through ``dump``, hashing every byte as it goes to the file (the
        checksum costs no second pass): (rows, bytes, xxh3-128)."""
        hasher = xxhash.xxh3_128()

        def fill(f: BinaryIO) -> tuple[int | None, int]:
            w = _HashingWriter(f, hasher)
            rows = dump(w)  # type: ignore[arg-type]
            return rows, w.tell()

        rows, nbytes = self._write(rel, fill)
        return rows, nbytes, hasher.hexdigest()

    def _write_table(self, stem: str, table: Any, fmt: str, base: dict[str, Any]
                     ) -> CheckpointMeta:
        data_rel = f"{stem}.{_tf.ext_of(fmt)}"
        _rows, nbytes, checksum = self._write_hashed(
            data_rel, lambda w: _tf.write_table(table, w, fmt))
        meta = CheckpointMeta(path=data_rel, checksum=checksum, bytes=nbytes,
                              created_at=time.time(), **base)
        self._write_bytes(stem + META_SUFFIX, meta.to_json())
        return meta

    def read_meta(
        self, pipeline: str, task: str, fingerprint: str, *, serializer: str | None = None
    ) -> CheckpointMeta | None:
        """The meta of a complete checkpoint, or None: absent, unreadable, or not this slot's
        (another task's or fingerprint's, data outside the slot, or a type that can run code
        that the task's declared ``serializer`` does not allow), which is logged as a warning.
        A checkpoint of the slot still being written in the background is waited for."""
        stem = _stem(pipeline, task, fingerprint)
        job = _bg.pending_for(self._root, stem + META_SUFFIX)
        if job is not None:
            job.wait()
        try:
            meta = _parse_meta(self._read(stem + META_SUFFIX), None)  # checked below
        except FileNotFoundError:
            return None
        why = meta and _cm.slot_problem(meta, pipeline, task, fingerprint, stem, serializer)
        if why:
            _cm.warn_ignored(self.url_for(stem + META_SUFFIX), why)
            return None
        return meta

    def load_checkpoint(self, meta: CheckpointMeta, verify: bool = True) -> Any:
        """The value of a checkpoint, with its original type.

        Raises CheckpointCorruptError when the data file is missing, truncated or does not
        match its checksum (with ``verify=False`` only when it cannot be decoded). A meta
        still being written (``PendingCheckpointMeta``) is waited for; local table files are
        memory-mapped (an Arrow IPC table is then used in place, not copied).
        """
        if isinstance(meta, PendingCheckpointMeta):
            try:
                meta = meta.complete()
            except Exception as exc:  # noqa: BLE001 - the write failed: nothing to load
                raise CheckpointCorruptError(
                    self.url_for(meta.meta_path), meta.data_version, "missing", meta.task
                ) from exc
        rel = clean_relpath(meta.path)
        ser = get_serializer(meta.type_tag)
        try:
            data = self._read_data(rel, mapped=ser.to_table is not None)
        except FileNotFoundError:
            raise CheckpointCorruptError(
                self.url_for(rel), meta.checksum, "missing", meta.task
            ) from None
        if rel.endswith(META_SUFFIX):  # stored inline: the data is inside the meta file
            data = _cm.inline_payload(data)
            if data is None:
                raise CheckpointCorruptError(
                    self.url_for(rel), meta.checksum, "unreadable", meta.task
                )
        if verify:
            actual = xxhash.xxh3_128_hexdigest(data)
            if actual != meta.checksum and actual != self._slot_checksum(meta, rel):
                raise CheckpointCorruptError(self.url_for(rel), meta.checksum, actual, meta.task)
        try:
            if ser.from_table is not None:
                return ser.from_table(_tf.read_table(data))
            return ser.load(data)
        except (SerializationError, UsageError):
            raise
        except Exception as exc:
            actual = xxhash.xxh3_128_hexdigest(data)
            raise CheckpointCorruptError(
                self.url_for(rel), meta.checksum, actual, meta.task
            ) from exc

    def _slot_checksum(self, meta: CheckpointMeta, rel: str) -> str | None:
        """The checksum in the meta file of ``meta``'s slot, when it describes the same data.

        A meta rebuilt from a run-store record carries the data version as its checksum;
        for a table the two differ, so the file checksum is taken from the meta file."""
        if rel.endswith(META_SUFFIX):  # inline: the meta file is the one just read
            return None
        try:
            found = _parse_meta(self._read(_meta_rel_of(rel)), None)
        except FileNotFoundError:
            return None
        if found is None or found.path != rel or found.data_version != meta.data_version:
            return None
        return found.checksum

    def _read_data(self, rel: str, mapped: bool) -> Any:
        """The bytes of a data file; a local table file as a memory map (no copy)."""
        if mapped and self._local_root is not None:
            import pyarrow as pa

            try:
                return pa.memory_map(self._local(rel)).read_buffer()
            except FileNotFoundError:
                raise
            except OSError as exc:
                if isinstance(exc, pa.ArrowIOError) and not os.path.exists(self._local(rel)):
                    raise FileNotFoundError(rel) from None
                raise
        return self._read(rel)

    def delete_checkpoint(self, meta_or_path: CheckpointMeta | str) -> bool:
        """Delete a checkpoint (meta first, so it stops counting as done, then data).

        Accepts the meta, or the relative path of its data or meta file. Returns whether
        anything was removed. An inline checkpoint is just its meta file.
        """
        if isinstance(meta_or_path, CheckpointMeta):
            meta_rel, data_rels = meta_or_path.meta_path, [clean_relpath(meta_or_path.path)]
        else:
            rel = clean_relpath(meta_or_path)
            meta_rel = _meta_rel_of(rel)
            data_rels = [] if rel == meta_rel else [rel]
            if not data_rels:
                try:
                    meta = _parse_meta(self._read(meta_rel), meta_rel)
                except FileNotFoundError:
                    meta = None
                if meta is not None:
                    data_rels = [clean_relpath(meta.path)]
        removed = self._delete(meta_rel)
        for data_rel in data_rels:
            if data_rel != meta_rel:
                removed = self._delete(data_rel) or removed
        return removed


def _create(folder: str, opener: Callable[[], _T]) -> _T:
    """Create a temp file, making its folder on first use (and again if gc just pruned it)."""
    for _ in range(3):
        try:
            return opener()
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
    return opener()


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
