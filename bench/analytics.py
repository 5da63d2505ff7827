"""Analytics benchmarks (issue #4): the EDA profile report and ``describe`` on a generated
1,000,000-row × 20-column mixed table, beside ``pandas.DataFrame.describe(include="all")``
and, with ``--peers``, ydata-profiling and whylogs.

Top-level imports stay standard-library only: peer children import this module in the
peers' virtualenv, where datamill is not installed.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from bench.harness import Benchmark, Case, Contender, Figure, Measurement

ROWS = 1_000_000
LEVELS = (2, 5, 10, 50, 100, 500, 1_000, 10_000)
DM_PACKAGES = ("datamill", "polars", "numpy", "pandas")
TIME_GOAL = 8.0
MINIMAL_GOAL = 3.0
RSS_FACTOR = 3.0
HTML_MB = 5.0


def make_table(rows: int = ROWS, seed: int = 0) -> Any:
    """10 float columns (normal and log-normal, 2-20% nulls), 2 integer columns and 8 string
    columns with 2 to 10,000 levels, as a pandas DataFrame."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i in range(10):
        x = rng.normal(i, 1 + i, rows) if i % 3 else rng.lognormal(0, 1, rows)
        x[rng.random(rows) < 0.02 * (i + 1)] = np.nan
        data[f"f{i}"] = x
    data["i0"] = rng.integers(0, 100, rows)
    data["i1"] = rng.integers(0, 1_000_000, rows)
    for j, k in enumerate(LEVELS):
        names = np.array([f"s{j}_{v}" for v in range(k)], dtype=object)
        data[f"c{j}"] = pd.array(names[rng.integers(0, k, rows)], dtype="str")
    return pd.DataFrame(data)


BOOT_ROWS = 1_000_000
BOOT_GOAL = 5.0
STATIONARITY_ROWS = 100_000
STATIONARITY_GOAL = 5.0


def dm_bootstrap(case: Case, statistic: str = "mean", rows: int = BOOT_ROWS) -> None:
    """bootstrap_ci(x, statistic) with the default 10,000 resamples."""
    import numpy as np

    from datamill.analytics.stats import bootstrap_ci

    x = np.random.default_rng(0).lognormal(0, 1, rows)
    bootstrap_ci(x[:1000], statistic, n_resamples=100, seed=0)
    case.ready()
    for _ in case.repeats():
        with case.timed():
            ci = bootstrap_ci(x, statistic, seed=1)
        case.record(rows=rows, resampling=ci.details["resampling"])


def dm_stationarity(case: Case, rows: int = STATIONARITY_ROWS) -> None:
    """stationarity(series): ADF and KPSS on a random walk plus noise."""
    import numpy as np
    import pandas as pd

    from datamill.analytics.timeseries import stationarity

    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(0, 1, rows)) + rng.normal(0, 5, rows)
    series = pd.Series(x, index=pd.date_range("2020-01-01", periods=rows, freq="min"))
    stationarity(series.iloc[:500])
    case.ready()
    for _ in case.repeats():
        with case.timed():
            stationarity(series)
        case.record(rows=rows)


def _seconds_check(what: str, goal: float) -> Any:
    def check(res: dict[str, Measurement]) -> list[Figure]:
        figs = []
        for name, m in res.items():
            if not m.ok:
                figs.append(Figure(f"{what} time", f"error: {m.error}", goal=f"≤ {goal:g} s",
                                   met=False, contender=name))
                continue
            figs.append(Figure(f"{what} time", f"{m.seconds:.2f} s (best {m.best:.2f} s)",
                               str(m.extras.get("resampling", "")), f"≤ {goal:g} s",
                               m.seconds <= goal, contender=name))
        return figs

    return check


def _table_mb(df: Any) -> float:
    return float(df.memory_usage(deep=True).sum()) / 1e6


def dm_profile(case: Case, rows: int = ROWS, minimal: bool = False) -> None:
    """datamill.analytics.profile(...).save(report.html): all sections (or minimal)."""
    from datamill.analytics.profile import profile

    df = make_table(rows)
    table_mb = _table_mb(df)
    profile(make_table(2_000), minimal=minimal).to_html()  # lazy imports before ready()
    out = os.path.join(tempfile.mkdtemp(prefix="dm-profile-"), "report.html")
    case.ready()
    for _ in case.repeats():
        with case.timed():
            profile(df, minimal=minimal).save(out)
        case.record(rows=rows, table_mb=round(table_mb, 1),
                    html_mb=round(os.path.getsize(out) / 1e6, 3))


def dm_describe(case: Case, rows: int = ROWS) -> None:
    from datamill.analytics.describe import describe

    df = make_table(rows)
    describe(make_table(2_000))
    case.ready()
    for _ in case.repeats():
        with case.timed():
            describe(df)
        case.record(rows=rows, table_mb=round(_table_mb(df), 1))


def pandas_describe(case: Case, rows: int = ROWS) -> None:
    """The plain baseline: pandas.DataFrame.describe(include="all")."""
    df = make_table(rows)
    case.ready()
    for _ in case.repeats():
        with case.timed():
            df.describe(include="all")
        case.record(rows=rows, table_mb=round(_table_mb(df), 1))


def peer_ydata(case: Case, rows: int = ROWS, minimal: bool = False) -> None:
    """ydata-profiling ProfileReport(df).to_file(report.html), default or minimal."""
    import warnings

    warnings.filterwarnings("ignore")
    from ydata_profiling import ProfileReport

    df = make_table(rows)
    out = os.path.join(tempfile.mkdtemp(prefix="ydata-profile-"), "report.html")
    case.ready()
    for _ in case.repeats():
        with case.timed():
            ProfileReport(df, minimal=minimal, progress_bar=False, title="bench").to_file(out)
        case.record(rows=rows, table_mb=round(_table_mb(df), 1),
                    html_mb=round(os.path.getsize(out) / 1e6, 3))


def peer_whylogs(case: Case, rows: int = ROWS) -> None:
    """whylogs: why.log(pandas=df) and the profile view (statistics only, no report)."""
    import warnings

    warnings.filterwarnings("ignore")
    import whylogs as why

    df = make_table(rows)
    case.ready()
    for _ in case.repeats():
        with case.timed():
            why.log(pandas=df).view().to_pandas()
        case.record(rows=rows)


def _profile_check(goal: float, with_base: bool) -> Any:
    def check(res: dict[str, Measurement]) -> list[Figure]:
        dm = res["datamill"]
        if not dm.ok:
            return [Figure("profile time", f"error: {dm.error}", goal=f"≤ {goal:g} s", met=False)]
        figs = []
        base = res.get("pandas describe")
        base_txt = f"pandas describe {base.seconds:.2f} s" if with_base and base and base.ok else ""
        figs.append(Figure("profile time", f"{dm.seconds:.2f} s (best {dm.best:.2f} s)",
                           base_txt, f"≤ {goal:g} s", dm.seconds <= goal))
        table_mb = dm.extras.get("table_mb")
        if dm.rss_growth_mb is not None and table_mb:
            ratio = dm.rss_growth_mb / table_mb
            figs.append(Figure("peak RSS growth / table size",
                               f"{ratio:.2f}x ({dm.rss_growth_mb:,.0f} MB)",
                               f"table {table_mb:,.0f} MB", f"≤ {RSS_FACTOR:g}x",
                               ratio <= RSS_FACTOR))
        html_mb = dm.extras.get("html_mb")
        if html_mb is not None:
            figs.append(Figure("HTML size", f"{html_mb:.2f} MB", "", f"< {HTML_MB:g} MB",
                               html_mb < HTML_MB))
        for name, m in res.items():
            if m.role == "peer":
                val = f"{m.seconds:.1f} s, RSS +{m.rss_growth_mb:,.0f} MB" if m.ok else \
                    f"error: {(m.error or '')[:120]}"
                figs.append(Figure(f"{name} time", val, "", "", None, contender=name))
        return figs

    return check


def _describe_check(res: dict[str, Measurement]) -> list[Figure]:
    dm, base = res["datamill"], res["pandas describe"]
    if not (dm.ok and base.ok):
        return [Figure("describe time", f"error: {dm.error or base.error}")]
    return [Figure("describe time", f"{dm.seconds:.2f} s",
                   f"pandas describe(include='all') {base.seconds:.2f} s "
                   "(fewer statistics: no skewness, kurtosis, mode, 5%/95%)", "", None)]


_MOD = "bench.analytics"
_METHOD = (
    f"A generated {ROWS:,}-row × 20-column pandas table (10 float columns with 2-20% nulls, "
    f"2 integer, 8 string columns with {LEVELS[0]} to {LEVELS[-1]:,} levels), built before "
    "`case.ready()`; the timing covers `profile(df).save('report.html')`: conversion to "
    "Polars, every section, HTML rendering and writing. Peak RSS growth is over the "
    "post-import baseline with the table already in memory; table size is pandas' "
    "`memory_usage(deep=True)`. Peers (with `--peers`): ydata-profiling "
    "`ProfileReport(df).to_file()` and whylogs `why.log(pandas=df)`, one repeat each.")

BENCHMARKS = [
    Benchmark(
        name="profile", issue=4,
        title=f"EDA profile of {ROWS:,} rows × 20 mixed columns, all sections, HTML written",
        goal=f"≤ {TIME_GOAL:g} s; peak RSS growth ≤ {RSS_FACTOR:g}x the table; HTML < {HTML_MB:g} MB",
        contenders=[
            Contender("datamill", f"{_MOD}:dm_profile", packages=DM_PACKAGES, repeats=3),
            Contender("pandas describe", f"{_MOD}:pandas_describe", role="baseline",
                      packages=("pandas",), repeats=3),
            Contender("ydata-profiling", f"{_MOD}:peer_ydata", role="peer", repeats=1,
                      warmup=0, timeout=1800, packages=("ydata-profiling", "pandas")),
            Contender("whylogs", f"{_MOD}:peer_whylogs", role="peer", repeats=1, warmup=0,
                      timeout=900, packages=("whylogs", "pandas")),
        ],
        check=_profile_check(TIME_GOAL, True), method=_METHOD,
        reference=[("ydata-profiling default", "64 s for 1M rows (79 s whole process, 3.2 GB)"),
                   ("whylogs", "11 s for 1M rows")],
    ),
    Benchmark(
        name="profile.minimal", issue=4,
        title=f"EDA profile of {ROWS:,} rows × 20 mixed columns, minimal, HTML written",
        goal=f"≤ {MINIMAL_GOAL:g} s",
        contenders=[
            Contender("datamill", f"{_MOD}:dm_profile", {"minimal": True},
                      packages=DM_PACKAGES, repeats=3),
            Contender("ydata-profiling minimal", f"{_MOD}:peer_ydata",
                      {"minimal": True}, role="peer", repeats=1, warmup=0, timeout=1800,
                      packages=("ydata-profiling", "pandas")),
        ],
        check=_profile_check(MINIMAL_GOAL, False), method=_METHOD + (
            " Minimal skips Spearman, Cramér's V, VIF, PCA and pair plots."),
        reference=[("ydata-profiling minimal", "3-4 s per 100k rows")],
    ),
    Benchmark(
        name="describe", issue=4,
        title=f"describe() of {ROWS:,} rows × 20 mixed columns",
        goal="informative: beside pandas describe(include='all')",
        contenders=[
            Contender("datamill", f"{_MOD}:dm_describe", packages=DM_PACKAGES, repeats=3),
            Contender("pandas describe", f"{_MOD}:pandas_describe", role="baseline",
                      packages=("pandas",), repeats=3),
        ],
        check=_describe_check, method=_METHOD,
    ),
    Benchmark(
        name="bootstrap", issue=9,
        title=f"bootstrap_ci of {BOOT_ROWS:,} log-normal values, 10,000 resamples (default)",
        goal=f"≤ {BOOT_GOAL:g} s each (was ~80 s for the mean)",
        contenders=[
            Contender("mean", f"{_MOD}:dm_bootstrap", {"statistic": "mean"},
                      packages=("datamill", "numpy"), repeats=3),
            Contender("median", f"{_MOD}:dm_bootstrap", {"statistic": "median"},
                      packages=("datamill", "numpy"), repeats=3),
            Contender("std", f"{_MOD}:dm_bootstrap", {"statistic": "std"},
                      packages=("datamill", "numpy"), repeats=3),
        ],
        check=_seconds_check("bootstrap", BOOT_GOAL),
        method=("The values are generated before `case.ready()`; the timing covers "
                "`bootstrap_ci(x, statistic, seed=1)`. Above 50M draws the built-in "
                "statistics resample blockwise (docs/analytics-stats.md)."),
    ),
    Benchmark(
        name="stationarity", issue=9,
        title=f"stationarity() of a {STATIONARITY_ROWS:,}-point series (ADF + KPSS)",
        goal=f"≤ {STATIONARITY_GOAL:g} s (was 22 s)",
        contenders=[Contender("datamill", f"{_MOD}:dm_stationarity",
                              packages=("datamill", "numpy", "statsmodels"), repeats=3)],
        check=_seconds_check("stationarity", STATIONARITY_GOAL),
        method="A random walk plus noise, generated before `case.ready()`.",
    ),
]
