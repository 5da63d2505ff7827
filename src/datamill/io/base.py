"""The connector contract: sources yield Arrow record batches, sinks take them.

A connector module exposes ``open_source(loc, **opts) -> Source`` and/or
``open_sink(loc, **opts) -> Sink``. Data travels as ``pyarrow.RecordBatch`` streams so
no connector has to hold a whole table; ``read`` collects them into a table for callers
who want one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

MODES = ("append", "replace", "merge")


class Source(Protocol):
    location: Any

    def batches(self, *, columns: list[str] | None = None,
                batch_size: int = 100_000) -> Iterator[Any]:
        """Yield ``pyarrow.RecordBatch``es."""

    def schema(self) -> Any | None:
        """The Arrow schema if known without reading everything (else None)."""


class FrameBatches:
    """The record batches of a whole Polars DataFrame, converted only when iterated; a
    writer that can take the frame itself (Parquet, through Polars' parallel writer)
    uses ``.frame`` and skips the conversion."""

    def __init__(self, frame: Any):
        self.frame = frame
        self._batches: list[Any] | None = None

    @property
    def schema(self) -> Any:
        return self.frame.head(0).to_arrow().schema

    def __iter__(self) -> Iterator[Any]:
        if self._batches is None:
            self._batches = self.frame.to_arrow().to_batches()
        return iter(self._batches)


def whole_batches(src: Any, columns: list[str] | None = None) -> Iterator[Any]:
    """Batches for a caller that keeps them all (a whole-table read): sources that can
    read faster when they need not stream (``batches(whole=True)``) are told so."""
    if getattr(src, "reads_whole", False):
        return src.batches(columns=columns, whole=True)
    return src.batches(columns=columns)


class Sink(Protocol):
    location: Any

    def write(self, batches: Iterable[Any], *, mode: str = "append",
              key: list[str] | None = None, load_id: str | None = None) -> WriteReport:
        """Write all batches as one unit: all or nothing, safe to repeat with the same load_id."""


@dataclass
class WriteReport:
    """What a write did."""

    dataset: str
    rows: int = 0
    bytes: int | None = None
    mode: str = "append"
    load_id: str | None = None
    skipped: bool = False  # the load id had been loaded before: nothing written again
    details: dict[str, Any] = field(default_factory=dict)
