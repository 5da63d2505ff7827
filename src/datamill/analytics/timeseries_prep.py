"""Time series input and the pieces every time-series result shares: a series put on a
regular grid (duplicates averaged, irregular timestamps resampled, gaps interpolated, each
step noted), the period of a frequency, chart thinning and the result base class."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

from datamill.analytics import charts, html
from datamill.analytics.source import to_pandas
from datamill.errors import UsageError

MAX_CHART_POINTS = 1500


MAX_MISSING_SHARE = 0.5


def resample(data: Any, time: str | None = None, value: str | None = None, freq: str = "D",
             how: str = "sum") -> Any:
    """Aggregate ``value`` into regular ``freq`` buckets ("h", "D", "W", "MS", …) with
    ``how`` = "sum", "mean" or "count"; empty buckets are 0 for sum/count, NaN for mean."""
    if how not in ("sum", "mean", "count"):
        raise UsageError(f"how must be 'sum', 'mean' or 'count', got {how!r}")
    s = _raw_series(data, time, value)
    try:
        r = s.resample(freq)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"unknown frequency {freq!r} ({exc}); use e.g. 'h', 'D', 'W', 'MS', 'QS'") from None
    out = getattr(r, how)()
    if how == "sum":
        out = out.fillna(0)
    return out.rename(s.name)


def _raw_series(data: Any, time: str | None, value: str | None) -> Any:
    """A float Series indexed by timestamps, sorted, from either input form."""
    import pandas as pd

    if isinstance(data, pd.Series):
        s = data
        if time is not None and time in (s.index.names or []):
            s = s.reset_index(level=time, drop=False).set_index(time).iloc[:, 0]
        if not isinstance(s.index, pd.DatetimeIndex):
            if isinstance(s.index, pd.PeriodIndex):
                s = s.to_timestamp()
            else:
                raise UsageError(f"the series needs a DatetimeIndex (its index is {type(s.index).__name__}); "
                                 "pass a table with time= and value= columns, or set "
                                 "series.index = pd.to_datetime(...)")
        name = s.name if s.name is not None else "value"
    else:
        df = to_pandas(data)
        if time is None or value is None:
            raise UsageError("with a table, name the columns: time='date', value='sales'")
        for c in (time, value):
            if c not in df.columns:
                raise UsageError(f"column {c!r} not found; the data has {list(df.columns)}")
        t = df[time]
        if not pd.api.types.is_datetime64_any_dtype(t):
            if pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t):
                raise UsageError(f"time column {time!r} holds {t.dtype} values, not dates; convert it, e.g. "
                                 f"pd.to_datetime(df[{time!r}], unit='s') for epoch seconds")
            try:
                t = pd.to_datetime(t, format="mixed")
            except (ValueError, TypeError) as exc:
                raise UsageError(f"time column {time!r} cannot be read as dates ({exc})") from None
        s = pd.Series(df[value].to_numpy(), index=pd.DatetimeIndex(t), name=value)
        name = value
    if not pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        try:
            s = pd.to_numeric(s, errors="raise")
        except (ValueError, TypeError):
            raise UsageError(f"values of {name!r} are not numeric ({s.dtype})") from None
    s = s.astype(float)
    s = s[s.index.notna()].sort_index()
    s.name = name
    return s


@dataclass
class _Prepared:
    series: Any
    freq: str | None
    notes: list[str]
    n_interpolated: int
    filled: Any = None  # boolean mask of the interpolated time steps


_FREQS = [  # (alias, seconds) used to regularise irregular timestamps
    ("s", 1), ("min", 60), ("h", 3600), ("D", 86400), ("W", 7 * 86400), ("MS", 30.44 * 86400),
    ("QS", 91.31 * 86400), ("YS", 365.25 * 86400)]


def _prepare(data: Any, time: str | None, value: str | None, freq: str | None = None) -> _Prepared:
    """The series on a regular grid, with gaps interpolated and each step noted."""
    import numpy as np

    s = _raw_series(data, time, value)
    notes: list[str] = []
    if s.index.has_duplicates:
        n_dup = int(s.index.duplicated().sum())
        s = s.groupby(level=0).mean()
        notes.append(f"{n_dup} duplicate timestamp(s) averaged")
    if len(s) < 3:
        raise UsageError(f"{len(s)} observation(s): a time series needs at least 3 (most methods far more)")
    if freq is None:
        freq = s.index.freqstr or _infer(s.index)
        if freq is None:
            gap = float(s.index.to_series().diff().median().total_seconds())
            freq = min(_FREQS, key=lambda f: abs(math.log(max(gap, 1e-9) / f[1])))[0]
            before = len(s)
            s = s.resample(freq).mean()
            notes.append(f"irregular timestamps: {before} observations resampled to {len(s)} "
                         f"regular '{freq}' buckets (mean per bucket)")
    if freq is not None and (s.index.freq is None or s.index.freqstr != freq):
        try:
            s = s.asfreq(freq)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"cannot put the series on a regular {freq!r} grid: {exc}") from None
    filled = s.isna()
    missing = int(filled.sum())
    if missing:
        share = missing / len(s)
        if share > MAX_MISSING_SHARE:
            raise UsageError(f"{missing} of {len(s)} time steps ({share:.0%}) have no value: too many gaps to "
                             "fill; resample to a coarser frequency (e.g. freq='W')")
        s = s.interpolate(method="time").ffill().bfill()
        notes.append(f"{missing} missing time step(s) filled by linear interpolation")
    if not np.isfinite(s.to_numpy()).all():
        raise UsageError(f"{s.name!r} holds infinite values")
    return _Prepared(series=s, freq=freq, notes=notes, n_interpolated=missing, filled=filled)


def _infer(index: Any) -> str | None:
    import pandas as pd

    if len(index) < 3:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas 3 announces an offset return value
            f = pd.infer_freq(index)
    except (ValueError, TypeError):
        return None
    return getattr(f, "freqstr", f)


def period_for(freq: str | None) -> int | None:
    """The natural seasonal period of a frequency: 12 for monthly, 7 for daily, …"""
    if not freq:
        return None
    import re

    base = re.sub(r"^\d+", "", freq).split("-")[0].upper()
    table = {"M": 12, "MS": 12, "ME": 12, "BM": 12, "BMS": 12, "BME": 12, "SM": 24, "SMS": 24,
             "Q": 4, "QS": 4, "QE": 4, "BQ": 4, "BQS": 4, "BQE": 4, "W": 52, "D": 7, "B": 5,
             "H": 24, "BH": 8, "T": 60, "MIN": 60, "S": 60}
    return table.get(base)


def _constant_check(s: Any, what: str) -> None:
    if float(s.max() - s.min()) == 0:
        raise UsageError(f"the series is constant (every value is {s.iloc[0]:g}): there is nothing to {what}")


def _period(prep: _Prepared, period: int | None, need_cycles: int = 2, what: str = "decompose") -> int:
    if period is None:
        period = period_for(prep.freq)
        if period is None:
            raise UsageError(f"cannot infer a seasonal period from frequency {prep.freq!r}; pass period=")
    if period < 2:
        raise UsageError(f"period must be at least 2, got {period}")
    need = need_cycles * period + 1
    if len(prep.series) < need:
        raise UsageError(f"too few points to {what} with period {period}: {len(prep.series)} observations, "
                         f"needs at least {need} ({need_cycles} full cycles); pass a smaller period= or more data")
    return period


def _thin(n: int, limit: int = MAX_CHART_POINTS) -> list[int]:
    if n <= limit:
        return list(range(n))
    step = n / limit
    return sorted({int(i * step) for i in range(limit)} | {n - 1})


def _label(ts: Any) -> str:
    return ts.strftime("%Y-%m-%d %H:%M") if (ts.hour or ts.minute) else ts.strftime("%Y-%m-%d")


def _chart(index: Any, series: dict[str, Any], *, band: tuple[Any, Any] | None = None,
           marks: list[int] = (), title: str = "") -> str:
    """charts.line over positions, thinned to MAX_CHART_POINTS, marks kept."""
    n = len(index)
    keep = _thin(n)
    keep = sorted(set(keep) | {m for m in marks if 0 <= m < n})
    pos = {p: i for i, p in enumerate(keep)}
    xs = list(range(len(keep)))
    ser = {k: [_f(v[i]) for i in keep] for k, v in series.items()}
    b = ([_f(band[0][i]) for i in keep], [_f(band[1][i]) for i in keep]) if band else None
    return charts.line(xs, ser, band=b, marks=[pos[m] for m in marks if m in pos],
                       x_labels=[_label(index[0]), _label(index[-1])] if n else None, title=title, width=720)


def _f(v: Any) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _iso(index: Any) -> list[str]:
    return [t.isoformat() for t in index]


def _floats(values: Any) -> list[float | None]:
    return [_f(v) for v in values]


def _p(p: float) -> str:
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.3f}" if p < 0.01 else f"= {p:.2f}"


class _Output:
    title = ""
    notes: list[str]
    interpretation: str

    def _sections(self) -> list[tuple[str, str, str]]:
        raise NotImplementedError

    def _rows(self) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def to_html(self) -> str:
        words = "".join(f"<p>{html.escape(p)}</p>" for p in self.interpretation.split("\n") if p)
        notes = html.warnings_html(self.notes) if self.notes else "<div class='ok'>The series was regular and complete.</div>"
        return html.page(self.title, [("summary", "In words", words), *self._sections(),
                                      ("notes", "Data notes", notes)])

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        t = Table(title=self.title, show_header=False)
        for k, v in self._rows():
            t.add_row(k, html.fmt(v) if not isinstance(v, str) else v)
        return Group(t, Text(self.interpretation), *(Text("note: " + n, style="yellow") for n in self.notes))
