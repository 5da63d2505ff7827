"""Names, paths and meta records of the artifact store (no I/O here).

Where a checkpoint's files live (``checkpoints/<pipeline>/<task>/<fingerprint>.*``), which
relative paths and names are allowed, the ``CheckpointMeta`` record of a complete
checkpoint and how it is stored as JSON, and the file wrapper that hashes while writing.
See docs/checkpoints.md.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from datamill.errors import UsageError
from datamill.store import checkpoint_meta as _cm

CHECKPOINTS = "checkpoints"
META_SUFFIX = ".meta.json"
TMP_SUFFIX = ".tmp"
TMP_MAX_AGE_S = 3600.0  # temp files and data without meta older than this are garbage
INLINE_MAX_BYTES = 8192  # in-memory payloads up to this size are stored inside the meta file
_META_FORMAT = 1
_META_FORMAT_INLINE = 2  # the meta file also holds the data (base64, field "inline")
_META_FORMAT_TABLE = 3  # data_version is the table's content hash, not the file checksum

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
    ``.meta.json``). ``data_version`` is the input version used in fingerprints: the
    content hash of the data, equal to ``checksum`` (the hash of the file) except for
    tables, whose data version is the hash of their Arrow buffers, known before the file
    is written (``table_formats.content_hash``).
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
        d["format"] = (_META_FORMAT_INLINE if inline is not None else _META_FORMAT
                       if self.data_version == self.checksum else _META_FORMAT_TABLE)
        d["algo"] = "xxh3_128"
        if inline is not None:
            d["inline"] = base64.b64encode(inline).decode("ascii")
        return _META_ENCODER.encode(d).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> CheckpointMeta:
        return cls.from_dict(json.loads(raw))


class PendingCheckpointMeta(CheckpointMeta):
    """The meta of a table checkpoint still being written in the background.

    It has the data version and row count (known before the write), but no ``path`` (so
    the run store records no checkpoint until it is durable) and no checksum. Loading it
    waits for the write; pickling it (to send it to a process or Dask worker) waits too
    and sends the complete meta. ``job`` is the write (``store.background``).
    """

    __slots__ = ("job",)

    def complete(self) -> CheckpointMeta:
        """The meta once the write is durable; raises the write's error if it failed."""
        return self.job.result()  # type: ignore[attr-defined]

    def __reduce__(self) -> Any:
        try:
            done = self.complete()
        except Exception:  # noqa: BLE001 - the remote load then reports it missing
            done = CheckpointMeta(**self.to_dict())
        return (CheckpointMeta.from_dict, (done.to_dict(),))


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



def _parse_meta(raw: bytes, rel: str | None) -> CheckpointMeta | None:
    try:  # torn, foreign, or pointing outside its slot: the checkpoint counts as absent
        meta = CheckpointMeta.from_json(raw)
    except (ValueError, KeyError, TypeError):
        return None
    return meta if rel is None or _cm.data_in_slot(meta.path, rel) else None

