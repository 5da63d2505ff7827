"""File formats of the files connector: one module per family of formats.

``delimited`` (CSV, TSV), ``jsonfmt`` (JSON arrays, NDJSON, nested-record normalisation),
``columnar`` (Parquet, Excel), ``tfrecord`` (``tf.train.Example`` records). Each reader takes
an opened binary stream; the connector in ``datamill.io.files`` finds, opens and decompresses
the files.
"""

from __future__ import annotations

FORMATS = ("csv", "tsv", "json", "ndjson", "parquet", "excel", "tfrecord", "delta")

EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".ndjson": "ndjson",
    ".jsonl": "ndjson", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel",
    ".xlsm": "excel", ".tfrecord": "tfrecord", ".tfrecords": "tfrecord", ".delta": "delta",
}
WRITE_EXTENSIONS = {"csv": ".csv", "tsv": ".tsv", "json": ".json", "ndjson": ".ndjson",
                    "parquet": ".parquet", "tfrecord": ".tfrecord"}

COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".zst": "zstd",
                ".zstd": "zstd", ".xz": "xz"}


def split_compression(name: str) -> tuple[str, str | None]:
    """``("data.csv", "gzip")`` for ``data.csv.gz``; no compression gives None."""
    lower = name.lower()
    for ext, codec in COMPRESSIONS.items():
        if lower.endswith(ext):
            return name[: -len(ext)], codec
    return name, None


def format_of_name(name: str) -> str | None:
    """The format named by a file's extension (after any compression extension)."""
    base, _ = split_compression(name.rstrip("/"))
    lower = base.lower()
    for ext, fmt in EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    return None
