"""Diagnostic drill-down: why did a metric change between two periods?

The change of the metric is split over the values of each dimension so that the segment
contributions add up to the total change. A summed metric (a column, or ``count`` rows)
splits trivially: each segment contributes its own change. A ratio of two sums
(``revenue/orders``) splits into a mix effect (the segment's share of the denominator
moved) and a rate effect (the segment's own ratio moved), with the symmetric shift-share
formula documented in ``docs/analytics-abtest-explain.md``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import itertools
import math
import re
from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

from datamill.analytics.jsonable import jsonable
from datamill.analytics.source import require_columns as _require
from datamill.analytics.source import to_pandas
from datamill.errors import UsageError

MISSING = "(missing)"


@dataclass
class Period:
    """A half-open time range [start, end) with the label the user wrote."""

    label: str
    start: dt.datetime
    end: dt.datetime


@dataclass
class Segment:
    """One value of a dimension. ``a``/``b`` are the segment's metric in each period (its
    sum, or its own ratio for ratio metrics); ``contribution`` is its part of the change."""

    value: str
    a: float | None
    b: float | None
    change: float | None
    contribution: float
    share: float | None
    status: str = ""
    mix: float | None = None
    rate: float | None = None
    weight_a: float | None = None
    weight_b: float | None = None
    se: float | None = None  # standard error of the contribution (None: not estimated)
    significant: bool | None = None  # contribution outside noise at the result's level


@dataclass
class Breakdown:
    """The ranked segments of one dimension (or a combination ``a × b``); ``other`` holds
    the summed contribution of the segments beyond ``top``, so the rows still add up."""

    dimension: str
    segments: list[Segment]
    other: float = 0.0
    other_count: int = 0
    mix_total: float | None = None
    rate_total: float | None = None


@dataclass
class ExplainResult:
    metric: str
    kind: str
    numerator: str | None
    denominator: str | None
    time: str
    period_a: Period
    period_b: Period
    rows_a: int
    rows_b: int
    total_a: float
    total_b: float
    change: float
    pct_change: float | None
    dimensions: list[Breakdown]
    summary: str = ""
    warnings: list[str] = field(default_factory=list)
    per: str = "total"  # "total", or "day": period values are per-day averages
    days_a: float = 0.0
    days_b: float = 0.0
    level: float = 0.95
    se: float | None = None  # standard error of the change
    ci: tuple[float, float] | None = None
    within_noise: bool | None = None  # the change's interval includes 0
    noise_unit: str = ""  # "day" or "row": what the uncertainty resamples

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("period_a", "period_b"):
            p = getattr(self, k)
            d[k] = {"label": p.label, "start": p.start.isoformat(), "end": p.end.isoformat()}
        return jsonable(d)

    def to_html(self) -> str:
        return _html(self)

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        parts: list[Any] = [Text(self.summary)]
        ratio = self.kind == "ratio"
        for b in self.dimensions:
            t = Table(title=f"by {b.dimension}")
            cols = ["value", self.period_a.label, self.period_b.label, "change", "contribution",
                    "share"] + (["mix", "rate"] if ratio else [])
            for c in cols:
                t.add_column(c, justify="left" if c == "value" else "right")
            for s in b.segments:
                row = [s.value + (f" ({s.status})" if s.status else ""), _n(s.a), _n(s.b),
                       _n(s.change, True), _n(s.contribution, True), _share(s.share)]
                if ratio:
                    row += [_n(s.mix, True), _n(s.rate, True)]
                t.add_row(*row)
            if b.other_count:
                t.add_row(f"({b.other_count} others)", "", "", "", _n(b.other, True),
                          _share(b.other / self.change if self.change else None),
                          *([""] * (2 if ratio else 0)))
            parts.append(t)
        parts += [Text("! " + w, style="yellow") for w in self.warnings]
        return Group(*parts)


# ---------------------------------------------------------------- periods


def parse_period(text: str) -> Period:
    """``2026`` (a year), ``2026-06`` (a month), ``2026-06-03`` (a day) or ``A..B`` (from the
    start of A to the end of B, inclusive)."""
    s = str(text).strip()
    if ".." in s:
        a, b = s.split("..", 1)
        pa, pb = parse_period(a), parse_period(b)
        if pb.end <= pa.start:
            raise UsageError(f"period {s!r} ends before it starts")
        return Period(s, pa.start, pb.end)
    try:
        if re.fullmatch(r"\d{4}", s):
            y = int(s)
            return Period(s, dt.datetime(y, 1, 1), dt.datetime(y + 1, 1, 1))
        if re.fullmatch(r"\d{4}-\d{1,2}", s):
            y, m = map(int, s.split("-"))
            start = dt.datetime(y, m, 1)
            end = dt.datetime(y + (m == 12), m % 12 + 1, 1)
            return Period(s, start, end)
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", s):
            start = dt.datetime.strptime(s, "%Y-%m-%d")
            return Period(s, start, start + dt.timedelta(days=1))
    except ValueError:
        pass
    raise UsageError(f"cannot read the period {s!r}: use a year (2026), a month (2026-06), a day "
                     "(2026-06-03) or a range (2026-06-01..2026-06-15)")


# ---------------------------------------------------------------- main entry


def explain(data: Any, metric: str, time: str, by: list[str] | str, compare: tuple[str, str], *,
            top: int = 10, combinations: bool = True, per: str = "auto",
            level: float = 0.95) -> ExplainResult:
    """Decompose the change of ``metric`` from period ``compare[0]`` to ``compare[1]`` by the
    values of each dimension in ``by`` (and of each pair of them when ``combinations``).

    ``metric`` is a numeric column (summed), ``"count"`` (rows) or ``"num/den"`` (a ratio
    of two sums).

    ``per``: ``"total"`` compares the period totals, ``"day"`` the per-day averages of a summed
    metric; ``"auto"`` (the default) compares per day when the periods differ in length. Each
    contribution and the total change get a standard error (see
    :mod:`datamill.analytics.explain_noise`); the summary names as drivers only segments
    whose contribution is outside noise at ``level``, and none when the total change is not.
    """
    import pandas as pd

    from datamill.analytics import explain_noise

    df = to_pandas(data)
    dims = [d.strip() for d in (by.split(",") if isinstance(by, str) else by) if d.strip()]
    if not dims:
        raise UsageError("explain needs at least one dimension to break the change down by (--by)")
    if len(compare) != 2:
        raise UsageError("compare takes two periods: PERIOD_A PERIOD_B")
    kind, num, den = _parse_metric(metric, list(df.columns))
    _require(df, [time, *dims, *[c for c in (num, den) if c]])
    if top < 1:
        raise UsageError(f"top must be at least 1, got {top}")
    pa, pb = parse_period(compare[0]), parse_period(compare[1])
    if per not in ("auto", "total", "day"):
        raise UsageError(f"per must be auto, total or day, got {per!r}")
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise UsageError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    warnings: list[str] = []
    days_a, days_b = ((p.end - p.start).total_seconds() / 86400 for p in (pa, pb))
    differ = abs(days_a - days_b) > 1e-9
    if kind == "ratio" or per == "total" or (per == "auto" and not differ):
        per_used = "total"
    else:
        per_used = "day"
    if kind != "ratio" and differ:
        if per_used == "day":
            warnings.append(f"the periods differ in length ({_days(days_a)} and {_days(days_b)} days): "
                            "compared per day (per='total' compares the totals)")
        else:
            warnings.append(f"the periods differ in length ({_days(days_a)} and {_days(days_b)} days) "
                            "but are compared as totals (per='day' compares per-day averages)")
    if pa.start < pb.end and pb.start < pa.end:
        warnings.append(f"the periods {pa.label} and {pb.label} overlap: rows in both count twice")
    if len(df) == 0:
        raise UsageError("the data has no rows: nothing to explain")

    ts = _as_time(df[time], time)
    if ts.isna().any():
        warnings.append(f"{int(ts.isna().sum()):,} rows have no readable {time!r} and were left out")
    values: dict[str, Any] = {}
    for col in (num, den):
        if col:
            values[col] = _numeric(df[col], col)
            nan = int(values[col].isna().sum())
            if nan:
                warnings.append(f"{nan:,} missing values of {col!r} count as 0")
            values[col] = values[col].fillna(0.0)
    work = pd.DataFrame({d: df[d].astype("string").fillna(MISSING).to_numpy() for d in dims})
    for col, v in values.items():
        work["__" + col] = v.to_numpy()
    if kind == "count":
        work["__count"] = 1.0
    ma = ((ts >= pa.start) & (ts < pa.end)).to_numpy()
    mb = ((ts >= pb.start) & (ts < pb.end)).to_numpy()
    for p, m in ((pa, ma), (pb, mb)):
        if not m.any():
            lo, hi = ts.min(), ts.max()
            raise UsageError(f"no rows in period {p.label} (column {time!r} runs from "
                             f"{_day(lo)} to {_day(hi)})")
    a, b = work[ma].copy(), work[mb].copy()
    if per_used == "day":
        a["__" + (num or "count")] /= days_a
        b["__" + (num or "count")] /= days_b

    groups = [[d] for d in dims]
    if combinations and len(dims) > 1:
        groups += [list(c) for c in itertools.combinations(dims, 2)]
    if kind == "ratio":
        na, da = math.fsum(a["__" + num]), math.fsum(a["__" + den])
        nb, db = math.fsum(b["__" + num]), math.fsum(b["__" + den])
        for p, d in ((pa, da), (pb, db)):
            if d == 0:
                raise UsageError(f"the denominator {den!r} sums to 0 in period {p.label}: the ratio "
                                 f"{metric} is undefined there")
        total_a, total_b = na / da, nb / db
        breakdowns = [_ratio_breakdown(a, b, g, num, den, na, da, nb, db, top) for g in groups]
    else:
        col = "__" + (num or "count")
        total_a, total_b = math.fsum(a[col]), math.fsum(b[col])
        breakdowns = [_sum_breakdown(a, b, g, col, total_b - total_a, top) for g in groups]
    change = total_b - total_a
    res = ExplainResult(metric=metric, kind=kind, numerator=num if kind == "ratio" else None,
                        denominator=den, time=time, period_a=pa, period_b=pb, rows_a=len(a),
                        rows_b=len(b), total_a=total_a, total_b=total_b, change=change,
                        pct_change=change / total_a if total_a else None, dimensions=breakdowns,
                        warnings=warnings, per=per_used, days_a=days_a, days_b=days_b,
                        level=level)
    explain_noise.annotate(res, a, b, groups, _keys, "__" + (num or "count"),
                           "__" + den if den else None, ts[ma].to_numpy(), ts[mb].to_numpy(), level)
    res.summary = _summary(res)
    return res


# ---------------------------------------------------------------- pieces


def _parse_metric(metric: str, columns: list[str]) -> tuple[str, str | None, str | None]:
    m = str(metric).strip()
    if m in columns:
        return "sum", m, None
    if m.lower() == "count":
        return "count", None, None
    if "/" in m:
        num, den = (x.strip() for x in m.split("/", 1))
        if not num or not den:
            raise UsageError(f"cannot read the metric {m!r}: a ratio is written NUMERATOR/DENOMINATOR")
        return "ratio", num, den
    return "sum", m, None


def _numeric(s: Any, name: str) -> Any:
    import pandas as pd

    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float)
    raise UsageError(f"the metric column {name!r} is not numeric (dtype {s.dtype}): use a numeric "
                     "column, 'count', or a ratio of two numeric columns")


def _as_time(s: Any, name: str) -> Any:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(s):
        out = s
    elif pd.api.types.is_integer_dtype(s) and s.dropna().between(1000, 9999).all():
        out = pd.to_datetime(s.astype("Int64").astype("string") + "-01-01", errors="coerce")
    else:
        try:
            out = pd.to_datetime(s, errors="coerce", format="mixed")
        except (ValueError, TypeError):  # mixed time zones: compare in UTC
            out = pd.to_datetime(s, errors="coerce", format="mixed", utc=True)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    if out.isna().all():
        raise UsageError(f"the time column {name!r} holds no readable dates (e.g. {s.iloc[0]!r})")
    return out


def _day(v: Any) -> str:
    try:
        return v.strftime("%Y-%m-%d")
    except (AttributeError, ValueError):
        return str(v)


def _keys(frame: Any, dims: list[str]) -> Any:
    if len(dims) == 1:
        return frame[dims[0]]
    return frame[dims[0]].str.cat([frame[d] for d in dims[1:]], sep=" × ")


def _sum_breakdown(a: Any, b: Any, dims: list[str], col: str, total_change: float,
                   top: int) -> Breakdown:
    import pandas as pd

    ka, kb = _keys(a, dims), _keys(b, dims)
    ga = a[col].groupby(ka.to_numpy()).sum()
    gb = b[col].groupby(kb.to_numpy()).sum()
    t = pd.concat({"a": ga, "b": gb}, axis=1)
    segs = []
    for key, row in t.iterrows():
        in_a, in_b = not pd.isna(row["a"]), not pd.isna(row["b"])
        va, vb = (float(row["a"]) if in_a else 0.0), (float(row["b"]) if in_b else 0.0)
        c = vb - va
        segs.append(Segment(value=str(key), a=va, b=vb, change=c, contribution=c,
                            share=c / total_change if total_change else None,
                            status="" if in_a and in_b else "new" if in_b else "gone"))
    return _rank(" × ".join(dims), segs, top)


def _ratio_breakdown(a: Any, b: Any, dims: list[str], num: str, den: str, na: float, da: float,
                     nb: float, db: float, top: int) -> Breakdown:
    """Symmetric shift-share: with weights w = D_i/D, rates r_i = N_i/D_i and the average total
    ratio R̄ = (R_A + R_B)/2, segment i contributes c_i = N_i^B/D^B - N_i^A/D^A - (w_i^B - w_i^A)·R̄
    (the c_i add up to R_B - R_A exactly because the weights of each period sum to 1), split
    into mix_i = (w_i^B - w_i^A)·(r̄_i - R̄) and rate_i = c_i - mix_i = (r_i^B - r_i^A)·(w_i^A + w_i^B)/2."""
    import pandas as pd

    ka, kb = _keys(a, dims), _keys(b, dims)
    ga = a[["__" + num, "__" + den]].groupby(ka.to_numpy()).sum()
    gb = b[["__" + num, "__" + den]].groupby(kb.to_numpy()).sum()
    t = pd.concat({"a": ga, "b": gb}, axis=1)
    ra_tot, rb_tot = na / da, nb / db
    rbar = (ra_tot + rb_tot) / 2
    change = rb_tot - ra_tot
    segs = []
    mix_sum, rate_sum = [], []
    for key, row in t.iterrows():
        n_a, d_a = _z(row[("a", "__" + num)]), _z(row[("a", "__" + den)])
        n_b, d_b = _z(row[("b", "__" + num)]), _z(row[("b", "__" + den)])
        present_a = not pd.isna(row[("a", "__" + den)])
        present_b = not pd.isna(row[("b", "__" + den)])
        wa, wb = d_a / da, d_b / db
        r_a = n_a / d_a if d_a else None
        r_b = n_b / d_b if d_b else None
        c = (n_b / db - n_a / da) - (wb - wa) * rbar
        rates = [r for r in (r_a, r_b) if r is not None]
        r_mid = sum(rates) / len(rates) if rates else rbar
        mix = (wb - wa) * (r_mid - rbar)
        rate = c - mix
        mix_sum.append(mix)
        rate_sum.append(rate)
        segs.append(Segment(value=str(key), a=r_a, b=r_b,
                            change=(r_b - r_a) if r_a is not None and r_b is not None else None,
                            contribution=c, share=c / change if change else None,
                            status="" if present_a and present_b else "new" if present_b else "gone",
                            mix=mix, rate=rate, weight_a=wa, weight_b=wb))
    br = _rank(" × ".join(dims), segs, top)
    br.mix_total, br.rate_total = math.fsum(mix_sum), math.fsum(rate_sum)
    return br


def _z(v: Any) -> float:
    return 0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _rank(name: str, segs: list[Segment], top: int) -> Breakdown:
    segs.sort(key=lambda s: (-abs(s.contribution), s.value))
    shown, rest = segs[:top], segs[top:]
    return Breakdown(dimension=name, segments=shown, other=math.fsum(s.contribution for s in rest),
                     other_count=len(rest))


# ---------------------------------------------------------------- words and pages


# fixed decimals while a ratio metric's summary or page is written (a context variable, so
# concurrent renderings in threads do not see each other's)
_DECIMALS: contextvars.ContextVar[int | None] = contextvars.ContextVar("decimals", default=None)


def _ratio_decimals(r: ExplainResult) -> int | None:
    """Ratio metrics are written with one number of decimals throughout (4 significant
    digits of the larger total), never a mix of decimals and scientific notation."""
    if r.kind != "ratio":
        return None
    top = max((abs(v) for v in (r.total_a, r.total_b) if v is not None and math.isfinite(v)),
              default=0.0)
    if top == 0:
        return 4
    return max(0, min(10, 3 - math.floor(math.log10(top))))


def _n(v: float | None, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    d = _DECIMALS.get()
    if d is not None:
        s = f"{v:+,.{d}f}" if signed else f"{v:,.{d}f}"
        return s.replace("-0." + "0" * d, "0." + "0" * d).replace("+0." + "0" * d, "0." + "0" * d) \
            if d else s
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100 and float(v).is_integer():
        s = f"{v:+,.0f}" if signed else f"{v:,.0f}"
    elif a >= 1000:
        s = f"{v:+,.0f}" if signed else f"{v:,.0f}"
    else:
        s = f"{v:+.4g}" if signed else f"{v:.4g}"
    return s


def _share(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v * 100:.0f}%".replace("-0%", "0%")


def _days(d: float) -> str:
    return f"{d:g}"


def _summary(r: ExplainResult) -> str:
    token = _DECIMALS.set(_ratio_decimals(r))
    try:
        return _summary_text(r)
    finally:
        _DECIMALS.reset(token)


def _summary_text(r: ExplainResult) -> str:
    name = r.metric if r.kind != "count" else "Row count"
    name = name[:1].upper() + name[1:] + (" per day" if r.per == "day" else "")
    span = f"from {r.period_a.label} to {r.period_b.label}"
    if r.change == 0:
        return f"{name} did not change {span} ({_n(r.total_a)})."
    verb = "rose" if r.change > 0 else "fell"
    if r.kind == "ratio":
        head = (f"{name} {verb} from {_n(r.total_a)} to {_n(r.total_b)} ({_n(r.change, True)}"
                + (f", {r.pct_change * 100:+.1f}%" if r.pct_change is not None else "") + f") {span}.")
    else:
        pct = f" {abs(r.pct_change) * 100:.0f}%" if r.pct_change is not None else ""
        head = (f"{name} {verb}{pct} ({_n(r.change, True)}) {span} "
                f"({_n(r.total_a)} → {_n(r.total_b)}).")
    parts = [head]
    noise = r.within_noise is True
    if r.ci is not None:
        lvl = f"{r.level:.0%}"
        if noise:
            parts.append(f"This change is within noise: its {lvl} interval [{_n(r.ci[0], True)}, "
                         f"{_n(r.ci[1], True)}] includes 0 (variation from {r.noise_unit} to "
                         f"{r.noise_unit}), so no segment can be named as its driver.")
        else:
            parts.append(f"The change is beyond noise ({lvl} interval [{_n(r.ci[0], True)}, "
                         f"{_n(r.ci[1], True)}]).")
    singles = [b for b in r.dimensions if " × " not in b.dimension and b.segments]
    if not singles:
        return " ".join(parts)
    lead = max(singles, key=lambda b: abs(b.segments[0].contribution))
    if not noise:
        def real(x: Segment) -> bool:
            return x.significant is not False

        word = "increase" if r.change > 0 else "decrease"
        same = [s for s in lead.segments if s.contribution * r.change > 0 and real(s)]
        if same:
            s0 = same[0]
            parts.append(f"{_share(s0.share)} of the {word} came from {lead.dimension} = {s0.value} "
                         f"({_n(s0.contribution, True)}{_pm(s0)}{_status(s0)})"
                         + "".join(f", then {lead.dimension} = {s.value} ({_n(s.contribution, True)}, "
                                   f"{_share(s.share)})" for s in same[1:3]) + ".")
        else:
            parts.append(f"By {lead.dimension}, no single segment's contribution stands out "
                         "from noise.")
        against = [s for s in lead.segments if s.contribution * r.change < 0 and s.share is not None
                   and abs(s.share) >= 0.05 and real(s)]
        if against:
            parts.append("Partly offset by " + ", ".join(
                f"{lead.dimension} = {s.value} ({_n(s.contribution, True)})" for s in against[:2]) + ".")
    if r.kind == "ratio" and lead.mix_total is not None:
        parts.append(f"By {lead.dimension}, the mix effect (shifts in the share of {r.denominator} "
                     f"between segments) accounts for {_share(lead.mix_total / r.change)} of the "
                     f"change and the rate effect (segments' own {r.metric} changing) for "
                     f"{_share(lead.rate_total / r.change)}.")
    if noise:
        return " ".join(parts)
    for b in singles:
        if b is lead:
            continue
        s = b.segments[0]
        if s.significant is False:
            continue
        parts.append(f"By {b.dimension}, the largest part is {s.value} ({_n(s.contribution, True)}, "
                     f"{_share(s.share)}).")
    return " ".join(parts)


def _pm(s: Segment) -> str:
    return "" if s.se is None or s.se == 0 else f" ± {_n(s.se)} se"


def _status(s: Segment) -> str:
    return {"new": ", new in the second period", "gone": ", absent from the second period"}.get(
        s.status, "")


def _html(r: ExplainResult) -> str:
    token = _DECIMALS.set(_ratio_decimals(r))
    try:
        return _html_page(r)
    finally:
        _DECIMALS.reset(token)


def _html_page(r: ExplainResult) -> str:
    from datamill.analytics import charts
    from datamill.analytics.html import page, table, warnings_html

    ratio = r.kind == "ratio"
    cards = "<div class='grid'>" + "".join(
        f"<div class='card'><div class='muted'>{escape(k)}</div><div class='big'>{escape(v)}</div></div>"
        for k, v in ((r.period_a.label, _n(r.total_a)), (r.period_b.label, _n(r.total_b)),
                     ("change", _n(r.change, True)),
                     ("% change", f"{r.pct_change * 100:+.1f}%" if r.pct_change is not None else "–"))
    ) + "</div>"
    sections = [("summary", "Summary", f"<p>{escape(r.summary)}</p>" + cards
                 + f"<p class='muted'>rows: {r.rows_a:,} in {escape(r.period_a.label)}, {r.rows_b:,} "
                 f"in {escape(r.period_b.label)}</p>" + warnings_html(r.warnings))]
    for i, b in enumerate(r.dimensions):
        labels = [s.value for s in b.segments] + ([f"{b.other_count} others"] if b.other_count else [])
        vals = [s.contribution for s in b.segments] + ([b.other] if b.other_count else [])
        colors = [charts.PALETTE[4] if v >= 0 else charts.PALETTE[2] for v in vals]
        chart = charts.bars(labels, vals, colors=colors, width=560,
                            value_labels=[_n(v, True) for v in vals],
                            title=f"contribution to the change by {b.dimension}")
        heads = ["value", r.period_a.label, r.period_b.label, "change", "contribution", "share"]
        rows = []
        for s in b.segments:
            row = [s.value + (f" ({s.status})" if s.status else ""), _n(s.a), _n(s.b),
                   _n(s.change, True), _n(s.contribution, True), _share(s.share)]
            if ratio:
                row += [_n(s.mix, True), _n(s.rate, True), _share(s.weight_a), _share(s.weight_b)]
            rows.append(row)
        if ratio:
            heads += ["mix effect", "rate effect", f"weight {r.period_a.label}",
                      f"weight {r.period_b.label}"]
        extra = ""
        if ratio and b.mix_total is not None:
            extra = (f"<p>mix effect {escape(_n(b.mix_total, True))}, rate effect "
                     f"{escape(_n(b.rate_total, True))} (total {escape(_n(r.change, True))})</p>")
        note = (f"<p class='muted'>{b.other_count} more segments contribute "
                f"{escape(_n(b.other, True))} together.</p>" if b.other_count else "")
        sections.append((f"dim{i}", f"By {b.dimension}", extra + chart
                         + table(heads, rows, numeric=set(range(1, len(heads)))) + note))
    method = ("<p>Each segment's contribution is its own change; contributions add up to the "
              "total change.</p>" if not ratio else
              "<p>Symmetric shift-share decomposition of a ratio of sums: with segment weights "
              "w = D<sub>i</sub>/D, rates r = N<sub>i</sub>/D<sub>i</sub> and R̄ the average of the "
              "two totals, mix<sub>i</sub> = Δw<sub>i</sub>·(r̄<sub>i</sub> − R̄) and "
              "rate<sub>i</sub> = Δr<sub>i</sub>·w̄<sub>i</sub>; they add up exactly to the change "
              "of the total ratio. New segments have only a mix effect.</p>")
    sections.append(("method", "Method", method))
    return page(f"Why did {r.metric} change?", sections,
                subtitle=f"{r.period_a.label} → {r.period_b.label}, by {', '.join(b.dimension for b in r.dimensions)}")
