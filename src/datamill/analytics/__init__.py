"""Analytics: describe, EDA reports, hypothesis and A/B tests, regression, time series,
Bayesian updates and diagnostic drill-down, as a library, as pipeline tasks and as CLI
commands (`datamill profile`, `datamill abtest`, `datamill explain`).

Modules import their heavy dependencies (scipy, statsmodels, polars) lazily; results are
objects with ``to_dict()`` (JSON-able), ``to_html()`` (a self-contained page, no CDN) and a
rich table for the terminal.
"""
