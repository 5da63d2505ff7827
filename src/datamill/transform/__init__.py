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

See docs/transform.md. The implementation modules are private (``_clean.py``, ``_sql.py``...)
and imported on first use of one of their names, so ``import datamill``
stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datamill._lazy import lazy_exports

_LAZY = {
    # clean
    "dedupe": "._clean", "drop_nulls": "._clean", "fill_nulls": "._clean", "flag_nulls": "._clean",
    "coerce": "._clean", "normalize_text": "._clean", "flag_outliers": "._clean",
    "clip_outliers": "._clean", "Imputer": "._clean", "Clipper": "._clean",
    # scale / encode
    "MinMaxScaler": "._scale", "StandardScaler": "._scale", "RobustScaler": "._scale",
    "OneHotEncoder": "._encode", "OrdinalEncoder": "._encode", "TargetEncoder": "._encode",
    "HashingEncoder": "._encode",
    # features / joins / text / sql
    "date_features": "._features", "lag": "._features", "rolling": "._features",
    "aggregate": "._features",
    "join": "._join", "lookup": "._join", "asof_join": "._join",
    "clean_text": "._text", "tokenize": "._text",
    "sql": "._sql", "sql_task": "._sql", "referenced_tables": "._sql",
    "Fitted": "._frame", "load_transform": "._frame",
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
    from datamill.transform._clean import (
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
    from datamill.transform._encode import (
        HashingEncoder,
        OneHotEncoder,
        OrdinalEncoder,
        TargetEncoder,
    )
    from datamill.transform._features import aggregate, date_features, lag, rolling
    from datamill.transform._frame import Fitted, load_transform
    from datamill.transform._join import asof_join, join, lookup
    from datamill.transform._scale import MinMaxScaler, RobustScaler, StandardScaler
    from datamill.transform._sql import referenced_tables, sql, sql_task
    from datamill.transform._text import clean_text, tokenize


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
