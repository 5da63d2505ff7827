"""Oversized values and corrupt compressed files are UsageErrors naming the file and line,
not raw OverflowError / OSError."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from datamill import io as dio
from datamill.errors import UsageError


def _forged(path: Path, body: bytes) -> Path:
    data = bytearray(gzip.compress(body))
    data[-4:] = struct.pack("<I", 123456789)  # the trailer's size no longer matches
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("ext", ["csv", "ndjson"])
def test_forged_gzip_size_names_the_file(tmp_path: Path, ext):
    body = b"a,b\n" + b"1,2\n" * 1000 if ext == "csv" else b'{"a": 1}\n' * 1000
    p = _forged(tmp_path / f"forged.{ext}.gz", body)
    with pytest.raises(UsageError, match=rf"forged\.{ext}\.gz: the file is corrupt or truncated "
                                         r"near line \d+.*gzip -t") as err:
        dio.read(str(p))
    assert err.value.exit_code == 2


def test_row_past_the_largest_block_names_the_line(tmp_path: Path, monkeypatch):
    from datamill.io.formats import delimited

    # the real limit is 1 GiB (pyarrow's block size is a 32-bit int: a 2 GB cell used to
    # grow the block past it and raise OverflowError); scaled down here
    monkeypatch.setattr(delimited, "_MAX_BLOCK", 1 << 16)
    p = tmp_path / "wide.csv"
    p.write_text("id,blob\n1,small\n2," + "x" * 300_000 + "\n3,tail\n")
    with pytest.raises(UsageError, match=r"wide\.csv: line 3 is larger than 65536 bytes"):
        list(dio.read_batches(str(p), block_size=4096))


def test_block_size_past_the_reader_limit_is_a_usage_error(tmp_path: Path):
    p = tmp_path / "t.csv"
    p.write_text("a\n1\n")
    with pytest.raises(UsageError, match=r"t\.csv: block_size=3000000000 is out of range"):
        dio.read(str(p), block_size=3_000_000_000)
