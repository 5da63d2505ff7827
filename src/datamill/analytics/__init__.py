"""Analytics: describe, EDA reports, hypothesis and A/B tests, regression, time series,
Bayesian updates and diagnostic drill-down, as a library, as pipeline tasks and as CLI
commands (`datamill profile`, `datamill abtest`, `datamill explain`).

Modules import their heavy dependencies (scipy, statsmodels, polars) lazily; results are
objects with ``to_dict()`` (JSON-able), ``to_html()`` (a self-contained page, no CDN) and a
rich table for the terminal.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "describe": "describe", "profile": "profile", "abtest": "abtest", "sample_size": "abtest",
    "power": "abtest", "explain": "explain", "ols": "regression", "logit": "regression",
    "resample": "timeseries", "decompose": "timeseries", "stationarity": "timeseries",
    "forecast": "timeseries", "anomalies": "timeseries", "read_table": "source",
}

__all__ = sorted([*_LAZY, "stats", "bayes"])


def __getattr__(name: str) -> Any:
    import importlib

    if name in ("stats", "bayes"):
        return importlib.import_module(f"datamill.analytics.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(f"datamill.analytics.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'datamill.analytics' has no attribute {name!r}")
