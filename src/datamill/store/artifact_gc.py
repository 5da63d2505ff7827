"""Listing and garbage collection of an artifact store (a mixin of ``ArtifactStore``).

Kept apart from the read/write path: it walks the whole store, which the run loop never
does. See docs/checkpoints.md ("Garbage collection").
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from datamill.store.artifact_paths import (
    CHECKPOINTS,
    META_SUFFIX,
    TMP_MAX_AGE_S,
    CheckpointMeta,
    GcReport,
    _is_tmp,
    _parse_meta,
)


class GcMixin:
    """``iter_checkpoints`` and ``gc`` over the store's low-level I/O (``_local`` etc.)."""

    _local_root: str | None
    _fs: Any
    _base: str

    def iter_checkpoints(self) -> Iterator[CheckpointMeta]:
        """Every complete checkpoint in the store (unreadable meta files are skipped)."""
        for rel, _size, _mtime, raw in self._iter_meta_files():
            meta = _parse_meta(raw, rel)
            if meta is not None:
                yield meta

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

