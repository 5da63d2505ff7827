"""Transformation: clean, normalise, encode and engineer features on columnar data.

Every function takes a pandas, Polars or Arrow table and returns the same kind (the
work is done in Polars or DuckDB, vectorised). Fitted transforms (scalers, encoders,
``Imputer``, ``Clipper``) learn on training data and save as JSON with ``to_dict()``::

    from datamill import transform as T

    good, rejected = T.coerce(raw, {"qty": "int", "ts": "datetime"})
    enc = T.OneHotEncoder(["city"]).fit(train)
    saved = enc.to_dict()                       # store it with the model
    T.load_transform(saved).transform(request)  # identical at serving time
    daily = T.sql("select day, sum(amount) from orders group by day", orders=good)

See docs/transform.md. Submodules are imported on first use, so ``import datamill``
stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    # clean
    "dedupe": "clean", "drop_nulls": "clean", "fill_nulls": "clean", "flag_nulls": "clean",
    "coerce": "clean", "normalize_text": "clean", "flag_outliers": "clean",
    "clip_outliers": "clean", "Imputer": "clean", "Clipper": "clean",
    # scale / encode
    "MinMaxScaler": "scale", "StandardScaler": "scale", "RobustScaler": "scale",
    "OneHotEncoder": "encode", "OrdinalEncoder": "encode", "TargetEncoder": "encode",
    "HashingEncoder": "encode",
    # features / joins / text / sql
    "date_features": "features", "lag": "features", "rolling": "features",
    "aggregate": "features",
    "join": "join", "lookup": "join", "asof_join": "join",
    "clean_text": "text", "tokenize": "text",
    "sql": "sql", "sql_task": "sql", "referenced_tables": "sql",
    "Fitted": "_frame", "load_transform": "_frame",
}

__all__ = [
    "Clipper",
    "Fitted",
    "HashingEncoder",
    "Imputer",
    "MinMaxScaler",
    "OneHotEncoder",
    "OrdinalEncoder",
    "RobustScaler",
    "StandardScaler",
    "TargetEncoder",
    "aggregate",
    "asof_join",
    "clean_text",
    "clip_outliers",
    "coerce",
    "date_features",
    "dedupe",
    "drop_nulls",
    "fill_nulls",
    "flag_nulls",
    "flag_outliers",
    "join",
    "lag",
    "load_transform",
    "lookup",
    "normalize_text",
    "referenced_tables",
    "rolling",
    "sql",
    "sql_task",
    "tokenize",
]

if TYPE_CHECKING:
    from datamill.transform._frame import Fitted, load_transform
    from datamill.transform.clean import (
        Clipper,
        Imputer,
        clip_outliers,
        coerce,
        dedupe,
        drop_nulls,
        fill_nulls,
        flag_nulls,
        flag_outliers,
        normalize_text,
    )
    from datamill.transform.encode import (
        HashingEncoder,
        OneHotEncoder,
        OrdinalEncoder,
        TargetEncoder,
    )
    from datamill.transform.features import aggregate, date_features, lag, rolling
    from datamill.transform.join import asof_join, join, lookup
    from datamill.transform.scale import MinMaxScaler, RobustScaler, StandardScaler
    from datamill.transform.sql import referenced_tables, sql, sql_task
    from datamill.transform.text import clean_text, tokenize


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'datamill.transform' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(f"datamill.transform.{mod}")
    # Bind every public name of that module now: importing ``datamill.transform.sql``
    # (or ``.join``) sets the package attribute of that name to the submodule, which must
    # not shadow the function of the same name.
    for n, m in _LAZY.items():
        if m == mod:
            globals()[n] = getattr(module, n)
    return globals()[name]
