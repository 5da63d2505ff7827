"""Table kinds in and out, column checks and the base of fitted transforms.

Every transform converts its input to Polars, works there, and hands back the kind it
was given (pandas, Polars or Arrow), so callers never see the engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import polars as pl

from datamill.errors import UsageError

KINDS = ("pandas", "polars", "arrow")


def kind_of(data: Any) -> str:
    """'pandas', 'polars' or 'arrow'; a clear error for anything else."""
    mod = type(data).__module__.split(".")[0]
    if mod == "polars" and isinstance(data, pl.DataFrame | pl.LazyFrame):
        return "polars"
    if mod == "pandas" and hasattr(data, "columns"):
        return "pandas"
    if mod == "pyarrow" and hasattr(data, "schema") and hasattr(data, "num_rows"):
        return "arrow"
    raise UsageError(
        f"expected a table (pandas DataFrame, Polars DataFrame or Arrow Table), "
        f"got {type(data).__name__}"
    )


def to_polars(data: Any) -> tuple[pl.DataFrame, str]:
    """The table as a Polars DataFrame plus the kind to convert back to."""
    kind = kind_of(data)
    if kind == "polars":
        return (data.collect() if isinstance(data, pl.LazyFrame) else data), kind
    if kind == "pandas":
        # The index is not data; a named or non-default index is kept as columns.
        import pandas as pd

        if not isinstance(data.index, pd.RangeIndex) or data.index.name is not None:
            data = data.reset_index()
        return pl.from_pandas(data), kind
    import pyarrow as pa

    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    # no rechunk: a chunked table (a CSV read, a filter) converts without copying it whole
    try:
        return pl.from_arrow(data, rechunk=False), kind  # type: ignore[return-value]
    except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError) as exc:
        odd = [f"{f.name} ({f.type})" for f in data.schema
               if pa.types.is_interval(f.type) or pa.types.is_union(f.type)]
        where = f" (column {', '.join(odd)})" if odd else ""
        raise UsageError(f"the table cannot be used by transforms{where}: "
                         f"{str(exc).splitlines()[0]}; cast or drop the column first") from None


def back(df: pl.DataFrame, kind: str) -> Any:
    """Convert a Polars result back to the caller's kind."""
    if kind == "polars":
        return df
    if kind == "pandas":
        out = df.to_pandas()
        # integers and booleans with nulls stay integers and booleans (pandas' nullable
        # dtypes) instead of turning into float / object
        for c, t in df.schema.items():
            if (t.is_integer() or t == pl.Boolean) and df[c].null_count():
                out[c] = out[c].astype("boolean" if t == pl.Boolean else str(t))
        return out
    if kind == "arrow":
        return df.to_arrow()
    raise UsageError(f"output must be one of {', '.join(KINDS)}, got {kind!r}")


def as_list(cols: str | Iterable[str] | None) -> list[str]:
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    return list(cols)


def check_columns(df: pl.DataFrame, cols: Iterable[str], where: str) -> None:
    """Raise UsageError naming the first unknown column and listing the available ones."""
    have = df.columns
    for c in cols:
        if c not in have:
            raise UsageError(
                f"{where}: unknown column {c!r}; available columns: {', '.join(map(repr, have))}"
            )


def check_numeric(df: pl.DataFrame, cols: Iterable[str], where: str) -> None:
    """Raise UsageError for a column that is not numeric (or boolean)."""
    check_columns(df, cols, where)
    for c in cols:
        dt = df.schema[c]
        if not (dt.is_numeric() or dt == pl.Boolean):
            raise UsageError(
                f"{where}: column {c!r} is {dt}, not numeric; cast it first "
                f"(e.g. datamill.transform.coerce(table, {{{c!r}: 'float'}}))"
            )


def numeric_columns(df: pl.DataFrame) -> list[str]:
    return [c for c, t in df.schema.items() if t.is_numeric()]


def not_reserved(df: pl.DataFrame, names: Sequence[str], where: str) -> None:
    """Refuse to overwrite an input column with a generated one."""
    for n in names:
        if n in df.columns:
            raise UsageError(f"{where}: output column {n!r} already exists; rename it or pick "
                             "another suffix/prefix")


# -- fitted transforms ---------------------------------------------------------------------

_REGISTRY: dict[str, type[Fitted]] = {}


class Fitted:
    """Base of transforms learnt from training data and applied identically later.

    ``fit(table)`` learns, ``transform(table)`` applies, ``to_dict()`` / ``from_dict()``
    (and ``to_json()`` / ``from_json()``) save and load the learnt state as plain JSON, so
    a model can carry its preprocessing to serving time.
    """

    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            _REGISTRY[cls.kind] = cls

    # subclasses implement these three
    def _fit(self, df: pl.DataFrame) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform(self, df: pl.DataFrame) -> pl.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    state: dict[str, Any] | None = None

    @property
    def fitted(self) -> bool:
        return self.state is not None

    def fit(self, table: Any, y: Any = None) -> Fitted:
        """Learn from ``table`` (``y`` is accepted and ignored, as a scikit-learn
        ``Pipeline`` step)."""
        df, _ = to_polars(_unnamed_index_dropped(table)[0])
        self._fit(df)
        return self

    def transform(self, table: Any) -> Any:
        if self.state is None:
            raise UsageError(f"{type(self).__name__} is not fitted; call fit(train) first "
                             "(or load a fitted one with from_dict)")
        table, index = _unnamed_index_dropped(table)
        df, kind = to_polars(table)
        out = back(self._transform(df), kind)
        if index is not None:  # rows are kept one for one: give them their labels back
            out.index = index
        return out

    def fit_transform(self, table: Any, y: Any = None) -> Any:
        return self.fit(table).transform(table)

    # scikit-learn's estimator protocol, so a fitted transform is a Pipeline step that
    # cross-validation can clone
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return self._params()

    def set_params(self, **params: Any) -> Fitted:
        self.__init__(**{**self._params(), **params})  # type: ignore[misc]
        return self

    def __sklearn_clone__(self) -> Fitted:
        return type(self)(**self._params())

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import Tags, TargetTags, TransformerTags

        tags = Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags())
        tags.input_tags.allow_nan = True  # nulls pass through or are filled
        return tags

    def to_dict(self) -> dict[str, Any]:
        if self.state is None:
            raise UsageError(f"{type(self).__name__} is not fitted; there is nothing to save")
        return {"type": self.kind, "version": 1, "params": self._params(), "state": self.state}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """Rebuild a fitted transform; on the base class, the type is read from ``d``."""
        kind = d.get("type") if isinstance(d, dict) else None
        target = _REGISTRY.get(kind or "") if cls is Fitted else cls
        if target is None or (cls is not Fitted and kind != cls.kind):
            raise UsageError(f"not a saved {cls.kind or 'datamill transform'}: type {kind!r} "
                             f"(known: {', '.join(sorted(_REGISTRY))})")
        obj = target(**d.get("params", {}))
        obj.state = d["state"]
        return obj

    @classmethod
    def from_json(cls, text: str) -> Any:
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({p}){'' if self.fitted else ' [not fitted]'}"


def _unnamed_index_dropped(table: Any) -> tuple[Any, Any]:
    """A pandas table without its unnamed, non-default index (a slice of rows, as a
    scikit-learn fold hands over) and that index, so fitted transforms see the same
    columns at fit and transform time; a named index is data and stays a column."""
    import sys

    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(table, pd.DataFrame) or table.index.name is not None \
            or isinstance(table.index, pd.RangeIndex) and table.index.start == 0 \
            and table.index.step == 1:
        return table, None
    index = table.index
    if isinstance(index, pd.MultiIndex) and any(n is not None for n in index.names):
        return table, None
    return table.reset_index(drop=True), index


def load_transform(saved: dict[str, Any] | str) -> Any:
    """Load any fitted transform saved with ``to_dict()`` or ``to_json()``."""
    import datamill.transform._clean  # noqa: F401 - registers Imputer and Clipper
    import datamill.transform._encode  # noqa: F401 - registers the encoders
    import datamill.transform._scale  # noqa: F401 - registers the scalers

    d = json.loads(saved) if isinstance(saved, str) else saved
    return Fitted.from_dict(d)
