"""Turn low-level failures while reading a file into errors naming the file and the line.

Decompression failures (a forged or truncated gzip / zstd / ... stream: ``OSError: zlib
inflate failed``), and sizes past what the reader can address (``OverflowError``) surface
from deep inside pyarrow or the standard library; :func:`guarded` re-raises them as a
``UsageError`` (CLI exit 2) naming the file, the line reached and what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from datamill.errors import UsageError

__all__ = ["guarded"]


def guarded(batches: Iterator[Any], name: str, header_lines: int = 0) -> Iterator[Any]:
    """``batches`` as they come; an ``OSError`` / ``OverflowError`` becomes a UsageError
    naming ``name`` and the line after the last row handed out."""
    rows = 0
    try:
        for batch in batches:
            rows += batch.num_rows
            yield batch
    except UsageError:
        raise
    except OverflowError as exc:
        raise UsageError(f"{name}: near line {rows + header_lines + 1}: a value or row is "
                         f"too large to read ({exc})") from None
    except OSError as exc:
        if not _is_data_error(exc):
            raise
        raise UsageError(f"{name}: the file is corrupt or truncated near line "
                         f"{rows + header_lines + 1} ({rows} rows read before): {exc}. Check "
                         "the file (for a compressed file, e.g. gzip -t) or fetch it again") \
            from None


def _is_data_error(exc: OSError) -> bool:
    """A corrupt stream, not a missing file or a network failure (those keep their type)."""
    import gzip

    if isinstance(exc, gzip.BadGzipFile):
        return True
    text = str(exc).lower()
    return exc.errno is None and any(w in text for w in (
        "inflate", "decompress", "zlib", "gzip", "bz2", "lzma", "zstd", "brotli", "lz4",
        "corrupt", "truncated", "invalid data", "incorrect", "compressed"))
