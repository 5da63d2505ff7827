"""The artifact store: task checkpoints, logs and reports in a local folder or on S3.

A checkpoint lives under ``checkpoints/<pipeline>/<task>/``: its meta file
``<fingerprint>.meta.json`` and, unless the data is small enough to be stored inside the
meta file (inline, base64), a data file ``<fingerprint>.<ext>``. The meta file
is written last, so "the meta file exists" means "the checkpoint is complete" (Luigi's
done = output exists). Local writes go to a temp file in the same folder and are moved into
place with ``os.replace``; object stores are atomic per PUT. The xxh3-128 checksum of the
data is computed while it is written and verified when it is loaded. See
docs/checkpoints.md.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

import xxhash

from datamill.errors import (
    CheckpointCorruptError,
    SerializationError,
    UsageError,
)
from datamill.store import checkpoint_meta as _cm
from datamill.store.serializers import Serializer, get_serializer, serializer_for

log = logging.getLogger("datamill.store.artifacts")

__all__ = ["ArtifactPathError", "ArtifactStore", "CheckpointMeta", "GcReport", "clean_relpath"]

CHECKPOINTS = "checkpoints"
META_SUFFIX = ".meta.json"
TMP_SUFFIX = ".tmp"
TMP_MAX_AGE_S = 3600.0  # temp files and data without meta older than this are garbage
INLINE_MAX_BYTES = 8192  # in-memory payloads up to this size are stored inside the meta file
_META_FORMAT = 1
_META_FORMAT_INLINE = 2  # the meta file also holds the data (base64, field "inline")

_T = TypeVar("_T")
_O_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | os.O_CLOEXEC
_FINGERPRINT_RE = re.compile(r"[A-Za-z0-9_-]{1,200}\Z")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_DRIVE_RE = re.compile(r"[A-Za-z]:")
_META_ENCODER = json.JSONEncoder(separators=(",", ":"))
_tmp_counter = itertools.count()
_tmp_nonce = os.urandom(4).hex()


class ArtifactPathError(UsageError, ValueError):
    """A path or name given to the artifact store would leave its root."""


@dataclass(frozen=True, slots=True)
class CheckpointMeta:
    """What is known about one complete checkpoint (the content of its ``.meta.json``).

    ``path`` is the file holding the data, relative to the store root: the data file, or
    the meta file itself for a small checkpoint stored inline (``path`` ends with
    ``.meta.json``). ``data_version`` is the content hash of the data (equal to
    ``checksum``), the input version used in fingerprints.
    """

    path: str
    type_tag: str
    checksum: str
    data_version: str
    bytes: int
    rows: int | None
    created_at: float
    fingerprint: str
    task: str
    pipeline: str

    @property
    def meta_path(self) -> str:
        """The ``.meta.json`` file relative to the store root (found from ``path``)."""
        if self.path:
            return _meta_rel_of(clean_relpath(self.path))
        return _meta_rel(self.pipeline, self.task, self.fingerprint)

    @property
    def is_inline(self) -> bool:
        """Whether the data is stored inside the meta file (``path`` is the meta file)."""
        return self.path.endswith(META_SUFFIX)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type_tag": self.type_tag,
            "checksum": self.checksum,
            "data_version": self.data_version,
            "bytes": self.bytes,
            "rows": self.rows,
            "created_at": self.created_at,
            "fingerprint": self.fingerprint,
            "task": self.task,
            "pipeline": self.pipeline,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckpointMeta:
        return cls(
            path=d["path"],
            type_tag=d["type_tag"],
            checksum=d["checksum"],
            data_version=d.get("data_version", d["checksum"]),
            bytes=int(d["bytes"]),
            rows=d.get("rows"),
            created_at=float(d["created_at"]),
            fingerprint=d["fingerprint"],
            task=d["task"],
            pipeline=d["pipeline"],
        )

    def to_json(self, inline: bytes | None = None) -> bytes:
        """The meta file's content; with ``inline``, the data is stored in it (base64)."""
        d = self.to_dict()
        d["format"] = _META_FORMAT if inline is None else _META_FORMAT_INLINE
        d["algo"] = "xxh3_128"
        if inline is not None:
            d["inline"] = base64.b64encode(inline).decode("ascii")
        return _META_ENCODER.encode(d).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> CheckpointMeta:
        return cls.from_dict(json.loads(raw))


@dataclass(frozen=True, slots=True)
class GcReport:
    """What a garbage collection removed: checkpoints and stray files, and their bytes."""

    deleted: int
    bytes_freed: int


# --------------------------------------------------------------------------- paths


def _bad(path: object, why: str) -> ArtifactPathError:
    return ArtifactPathError(
        f"artifact path {path!r} is not allowed: {why}; use a relative path inside the "
        "artifact store, e.g. 'reports/summary.html'"
    )


def clean_relpath(relpath: str | os.PathLike[str]) -> str:
    """Normalise a path relative to the store root; reject absolute paths and ``..``."""
    rel = os.fspath(relpath)
    if not isinstance(rel, str) or not rel:
        raise _bad(relpath, "it is empty or not a string")
    if "\x00" in rel:
        raise _bad(relpath, "it contains a NUL byte")
    if "\\" in rel:
        raise _bad(relpath, "it contains a backslash (use '/' as the separator)")
    if rel.startswith("/") or _DRIVE_RE.match(rel) or _SCHEME_RE.match(rel):
        raise _bad(relpath, "it is absolute")
    parts = [p for p in rel.split("/") if p and p != "."]
    if ".." in parts:
        raise _bad(relpath, "it contains '..'")
    if not parts:
        raise _bad(relpath, "it names the root itself")
    return "/".join(parts)


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ArtifactPathError(f"{kind} name {name!r} must be a non-empty string")
    if "/" in name or "\\" in name or "\x00" in name or name.startswith("."):
        raise ArtifactPathError(
            f"{kind} name {name!r} cannot be used in a checkpoint path: it must not contain "
            "'/', '\\' or NUL, nor start with '.'"
        )
    return name


def _check_fingerprint(fp: str) -> str:
    if not isinstance(fp, str) or not _FINGERPRINT_RE.match(fp):
        raise ArtifactPathError(
            f"fingerprint {fp!r} must be 1-200 characters of [A-Za-z0-9_-] (e.g. a hex digest)"
        )
    return fp


def _stem(pipeline: str, task: str, fingerprint: str) -> str:
    """``checkpoints/<pipeline>/<task>/<fingerprint>``: the checkpoint's files without suffix."""
    return (
        f"{CHECKPOINTS}/{_check_name('pipeline', pipeline)}/{_check_name('task', task)}/"
        f"{_check_fingerprint(fingerprint)}"
    )


def _meta_rel(pipeline: str, task: str, fingerprint: str) -> str:
    return _stem(pipeline, task, fingerprint) + META_SUFFIX


def _meta_rel_of(rel: str) -> str:
    """The meta file of the checkpoint whose data (or meta) file is ``rel``."""
    if rel.endswith(META_SUFFIX):
        return rel
    folder, _, name = rel.rpartition("/")
    stem = name.rpartition(".")[0] or name
    return f"{folder}/{stem}{META_SUFFIX}" if folder else f"{stem}{META_SUFFIX}"


def _is_tmp(name: str) -> bool:
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def _tmp_name(final_name: str) -> str:
    return f".{final_name}.{os.getpid()}-{_tmp_nonce}-{next(_tmp_counter)}{TMP_SUFFIX}"


# --------------------------------------------------------------------------- writing


class _HashingWriter:
    """File-like wrapper that feeds every byte written through the checksum."""

    __slots__ = ("_f", "_h", "_pos")

    def __init__(self, f: BinaryIO, hasher: Any):
        self._f, self._h, self._pos = f, hasher, 0

    def write(self, b: Any) -> int:
        self._h.update(b)
        self._f.write(b)
        n = b.nbytes if isinstance(b, memoryview) else len(b)
        self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:  # the store closes the real file once the write succeeded
        pass

    @property
    def closed(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False


def _rebuild(
    root: str,
    fsync: bool,
    storage_options: dict[str, Any] | None,
    inline_max_bytes: int = INLINE_MAX_BYTES,
) -> ArtifactStore:
    return ArtifactStore(
        root, fsync=fsync, storage_options=storage_options, inline_max_bytes=inline_max_bytes
    )


class ArtifactStore:
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
    ) -> CheckpointMeta:
        """Serialise ``value`` as the checkpoint of ``task`` at ``fingerprint``.

        The format is chosen by the value's type unless ``serializer`` names a tag (e.g.
        ``"pickle"``, which is only ever used when asked for). Data first, meta last; a
        small in-memory payload is stored inside the meta file, the only file written.
        """
        stem = _stem(pipeline, task, fingerprint)
        meta_rel = stem + META_SUFFIX
        try:
            ser: Serializer = get_serializer(serializer) if serializer else serializer_for(value)
        except SerializationError as exc:
            raise SerializationError(f"task {task!r}: {exc}") from None
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
                hasher = xxhash.xxh3_128()

                def fill(f: BinaryIO) -> tuple[int | None, int]:
                    w = _HashingWriter(f, hasher)
                    rows = ser.dump(value, w)  # type: ignore[arg-type]
                    return rows, w.tell()

                rows, nbytes = self._write(data_rel, fill)
                checksum = hasher.hexdigest()
        except SerializationError as exc:
            raise SerializationError(f"task {task!r}: {exc}") from exc.__cause__
        meta = CheckpointMeta(
            path=data_rel,
            type_tag=ser.tag,
            checksum=checksum,
            data_version=checksum,
            bytes=nbytes,
            rows=rows,
            created_at=time.time(),
            fingerprint=fingerprint,
            task=task,
            pipeline=pipeline,
        )
        self._write_bytes(meta_rel, meta.to_json() if inline is None else meta.to_json(inline))
        return meta

    def read_meta(
        self, pipeline: str, task: str, fingerprint: str, *, serializer: str | None = None
    ) -> CheckpointMeta | None:
        """The meta of a complete checkpoint, or None: absent, unreadable, or not this slot's
        (another task's or fingerprint's, data outside the slot, or a type that can run code
        that the task's declared ``serializer`` does not allow), which is logged as a warning."""
        stem = _stem(pipeline, task, fingerprint)
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
        match its checksum (with ``verify=False`` only when it cannot be decoded).
        """
        rel = clean_relpath(meta.path)
        ser = get_serializer(meta.type_tag)
        try:
            data = self._read(rel)
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
            if actual != meta.checksum:
                raise CheckpointCorruptError(self.url_for(rel), meta.checksum, actual, meta.task)
        try:
            return ser.load(data)
        except (SerializationError, UsageError):
            raise
        except Exception as exc:
            actual = xxhash.xxh3_128_hexdigest(data)
            raise CheckpointCorruptError(
                self.url_for(rel), meta.checksum, actual, meta.task
            ) from exc

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

    def iter_checkpoints(self) -> Iterator[CheckpointMeta]:
        """Every complete checkpoint in the store (unreadable meta files are skipped)."""
        for rel, _size, _mtime, raw in self._iter_meta_files():
            meta = _parse_meta(raw, rel)
            if meta is not None:
                yield meta

    # ----------------------------------------------------------------- listing and gc

    def _walk_files(self, top: str) -> Iterator[tuple[str, int, float]]:
        """(relative path, size, mtime) of every file under ``top`` (relative)."""
        if self._local_root is not None:
            base = self._local(top) if top else self._local_root
            n = len(self._local_root) + 1
            for folder, _dirs, files in os.walk(base):
                for name in files:
                    full = os.path.join(folder, name)
                    try:
                        st = os.stat(full)
                    except FileNotFoundError:
                        continue
                    yield full[n:].replace(os.sep, "/"), st.st_size, st.st_mtime
            return
        prefix = self._remote(top) if top else self._base
        try:
            found = self._fs.find(prefix, detail=True)
        except FileNotFoundError:
            return
        n = len(self._base) + 1
        for path, info in found.items():
            if info.get("type") == "directory":
                continue
            yield path[n:], int(info.get("size") or 0), _info_mtime(info)

    def _iter_meta_files(
        self, listing: list[tuple[str, int, float]] | None = None
    ) -> Iterator[tuple[str, int, float, bytes]]:
        """(relative path, size, mtime, content) of every meta file."""
        if listing is None:
            listing = list(self._walk_files(CHECKPOINTS))
        entries = [e for e in listing if e[0].endswith(META_SUFFIX)]
        if self._local_root is not None:
            for rel, size, mtime in entries:
                try:
                    raw = self._read(rel)
                except FileNotFoundError:
                    continue
                yield rel, size, mtime, raw
            return
        for i in range(0, len(entries), 256):  # fetch meta files concurrently, in batches
            chunk = entries[i : i + 256]
            got = self._fs.cat([self._remote(e[0]) for e in chunk], on_error="omit")
            for rel, size, mtime in chunk:
                raw = got.get(self._remote(rel))
                if raw is not None:
                    yield rel, size, mtime, raw

    def gc(
        self,
        referenced: Iterable[str],
        older_than_s: float | None = None,
        *,
        dry_run: bool = False,
    ) -> GcReport:
        """Delete checkpoints whose data path (relative, or its URL) is not in ``referenced``.

        With ``older_than_s``, only checkpoints created at least that long ago. Also removes,
        once they are an hour old, temp files anywhere under the root and the leftovers of
        interrupted writes: data files without a meta file, unreadable meta files. A
        checkpoint counts once in ``deleted``; its meta and data bytes both count as freed.
        """
        keep = set(referenced)
        now = time.time()
        stale = now - TMP_MAX_AGE_S
        # temp files can be anywhere locally; remote stores never get temp files
        listing = list(self._walk_files("" if self._local_root is not None else CHECKPOINTS))
        sizes = {rel: size for rel, size, _ in listing}
        prefix = CHECKPOINTS + "/"
        ckpt_files = [e for e in listing if e[0].startswith(prefix)]
        victims: list[str] = []  # a meta file always comes before its data file
        deleted = freed = 0
        owned: set[str] = set()
        for rel, size, mtime, raw in self._iter_meta_files(ckpt_files):
            owned.add(rel)
            meta = _parse_meta(raw, rel)
            if meta is None:
                if mtime < stale:
                    victims.append(rel)
                    deleted, freed = deleted + 1, freed + size
                continue
            owned.add(meta.path)
            if meta.path in keep or rel in keep or self.url_for(meta.path) in keep:
                continue
            if older_than_s is not None and now - meta.created_at < older_than_s:
                continue
            if meta.path == rel:  # inline: the meta file is the whole checkpoint
                victims.append(rel)
                deleted, freed = deleted + 1, freed + size
                continue
            victims += [rel, meta.path]
            deleted, freed = deleted + 1, freed + size + sizes.get(meta.path, 0)
        for rel, size, mtime in listing:
            if rel in owned or rel in keep or mtime >= stale:
                continue
            name = rel.rpartition("/")[2]
            # temp files anywhere, and data files in checkpoint folders whose meta never came
            if _is_tmp(name) or (rel.startswith(prefix) and not name.endswith(META_SUFFIX)):
                victims.append(rel)
                deleted, freed = deleted + 1, freed + size
        if not dry_run and victims:
            self._delete_many(victims)
            if self._local_root is not None:
                self._prune_empty_dirs()
        return GcReport(deleted=deleted, bytes_freed=freed)

    def _delete_many(self, rels: list[str]) -> None:
        if self._local_root is not None:
            for rel in rels:
                self._delete(rel)
            return
        for i in range(0, len(rels), 1000):
            paths = [self._remote(r) for r in rels[i : i + 1000]]
            try:
                self._fs.rm(paths)
            except FileNotFoundError:
                pass

    def _prune_empty_dirs(self) -> None:
        top = self._local(CHECKPOINTS)
        for folder, _dirs, _files in os.walk(top, topdown=False):
            if folder != top:
                try:
                    os.rmdir(folder)
                except OSError:
                    pass


def _parse_meta(raw: bytes, rel: str | None) -> CheckpointMeta | None:
    try:  # torn, foreign, or pointing outside its slot: the checkpoint counts as absent
        meta = CheckpointMeta.from_json(raw)
    except (ValueError, KeyError, TypeError):
        return None
    return meta if rel is None or _cm.data_in_slot(meta.path, rel) else None


def _info_mtime(info: dict[str, Any]) -> float:
    """Modification time from an fsspec info dict; "now" when unknown (never looks stale)."""
    for key in ("LastModified", "mtime", "created", "last_modified"):
        v = info.get(key)
        if v is None:
            continue
        if hasattr(v, "timestamp"):
            return float(v.timestamp())
        try:
            return float(v)
        except (TypeError, ValueError):
            continue
    return time.time()


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
