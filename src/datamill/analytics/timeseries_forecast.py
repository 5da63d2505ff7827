"""Forecasts with prediction intervals (ETS, ARIMA, a seasonal-naive baseline) and an honest
backtest against the naive baseline. Re-exported by ``timeseries``."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from datamill.analytics import html
from datamill.analytics.jsonable import jsonable
from datamill.analytics.timeseries_prep import (
    _chart,
    _constant_check,
    _floats,
    _iso,
    _Output,
    _prepare,
    period_for,
)
from datamill.errors import UsageError


@dataclass
class Forecast(_Output):
    """Point forecasts with a prediction interval, and the backtest that says how far to
    trust them."""

    history: Any
    mean: Any
    lower: Any
    upper: Any
    level: float
    method: str  # the model actually used, e.g. "ETS(A,Ad,M)" or "SARIMA(0,1,1)(0,1,1,12)"
    horizon: int
    period: int | None
    backtest: dict[str, Any]  # holdout: MAE, RMSE, MAPE, sMAPE for the model and the baseline
    notes: list[str] = field(default_factory=list)
    interpretation: str = ""

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Forecast of {self.history.name}"

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame({"mean": self.mean, "lower": self.lower, "upper": self.upper})

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "horizon": self.horizon, "level": self.level, "period": self.period,
                "backtest": jsonable(self.backtest), "notes": self.notes, "interpretation": self.interpretation,
                "index": _iso(self.mean.index), "mean": _floats(self.mean), "lower": _floats(self.lower),
                "upper": _floats(self.upper), "history_index": _iso(self.history.index),
                "history": _floats(self.history)}

    def _rows(self) -> list[tuple[str, Any]]:
        b = self.backtest
        rows = [("method", self.method), ("horizon", self.horizon), ("interval", f"{self.level:.0%}")]
        for k in ("mae", "rmse", "mape", "smape"):
            rows.append((f"backtest {k.upper()}", b["model"].get(k)))
            rows.append((f"baseline ({b['baseline']}) {k.upper()}", b["baseline_errors"].get(k)))
        if b.get("coverage") is not None:
            rows.append(("holdout points inside the interval", f"{b['coverage']:.0%}"))
        return rows

    def _sections(self) -> list[tuple[str, str, str]]:
        import numpy as np

        idx = self.history.index.append(self.mean.index)
        h = len(self.history)
        nan = np.full(h, np.nan)
        past = np.concatenate([self.history.to_numpy(), np.full(len(self.mean), np.nan)])
        fut = np.concatenate([nan, self.mean.to_numpy()])
        fut[h - 1] = self.history.iloc[-1]
        lo = np.concatenate([nan, self.lower.to_numpy()])
        hi = np.concatenate([nan, self.upper.to_numpy()])
        chart = _chart(idx, {"observed": past, "forecast": fut}, band=(lo, hi),
                       title=f"forecast with {self.level:.0%} interval")
        b = self.backtest
        rows = [[k.upper(), b["model"].get(k), b["baseline_errors"].get(k)] for k in ("mae", "rmse", "mape", "smape")]
        table = html.table(["error", self.method, f"baseline: {b['baseline']}"], rows, numeric={1, 2})
        return [("forecast", "Forecast", chart),
                ("backtest", f"Backtest (last {b['holdout']} points held out)", table)]


def _errors(actual: Any, pred: Any) -> dict[str, float | None]:
    import numpy as np

    a, p = np.asarray(actual, float), np.asarray(pred, float)
    e = a - p
    out: dict[str, float | None] = {"mae": float(np.mean(np.abs(e))), "rmse": float(np.sqrt(np.mean(e ** 2)))}
    out["mape"] = float(np.mean(np.abs(e / a)) * 100) if (a != 0).all() else None
    den = np.abs(a) + np.abs(p)
    out["smape"] = float(np.mean(np.where(den == 0, 0, 2 * np.abs(e) / np.where(den == 0, 1, den))) * 100)
    return out


def _naive(train: Any, h: int, period: int | None) -> tuple[Any, str]:
    import numpy as np

    vals = np.asarray(train, float)
    if period and len(vals) >= period:
        last = vals[-period:]
        return np.array([last[i % period] for i in range(h)]), f"seasonal naive (period {period})"
    return np.full(h, vals[-1]), "naive (last value)"


def _fit_ets(s: Any, period: int | None, h: int, level: float) -> tuple[str, Any, Any, Any, float]:
    """The ETS model with the lowest AIC among a few additive / multiplicative forms."""
    import numpy as np
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    positive = bool((s > 0).all())
    seasons: list[str | None] = [None]
    if period and len(s) >= 2 * period + 2:
        seasons = ["add", "mul"] if positive else ["add"]
    best = None
    for seasonal in seasons:
        for trend, damped in ((None, False), ("add", False), ("add", True)):
            for error in (["add", "mul"] if positive else ["add"]):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        m = ETSModel(s, error=error, trend=trend, damped_trend=damped, seasonal=seasonal,
                                     seasonal_periods=period if seasonal else None)
                        r = m.fit(disp=False, maxiter=2000)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                if np.isfinite(r.aic) and (best is None or r.aic < best[0]):
                    name = (f"ETS({error[0].upper()},{'N' if not trend else 'Ad' if damped else 'A'},"
                            f"{'N' if not seasonal else seasonal[0].upper()})")
                    best = (r.aic, name, r)
    if best is None:
        raise UsageError("no exponential smoothing model could be fitted to this series")
    _, name, r = best
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = r.get_prediction(start=len(s), end=len(s) + h - 1).summary_frame(alpha=1 - level)
    return name, f["mean"].to_numpy(), f["pi_lower"].to_numpy(), f["pi_upper"].to_numpy(), float(r.aic)


def _fit_arima(s: Any, period: int | None, h: int, level: float) -> tuple[str, Any, Any, Any, float]:
    """A SARIMA with one difference (and one seasonal difference when seasonal), the orders
    chosen by AIC among a few small ones."""
    import numpy as np
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    seasonal = (0, 1, 1, period) if period and len(s) >= 2 * period + 4 else (0, 0, 0, 0)
    best = None
    for order in ((0, 1, 1), (1, 1, 0), (1, 1, 1), (2, 1, 1)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = SARIMAX(s, order=order, seasonal_order=seasonal, trend="n").fit(disp=False)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if np.isfinite(r.aic) and (best is None or r.aic < best[0]):
            name = f"SARIMA{order}{seasonal}" if seasonal[3] else f"ARIMA{order}"
            best = (r.aic, name.replace(" ", ""), r)
    if best is None:
        raise UsageError("no ARIMA model could be fitted to this series")
    _, name, r = best
    f = r.get_forecast(h).summary_frame(alpha=1 - level)
    return name, f["mean"].to_numpy(), f["mean_ci_lower"].to_numpy(), f["mean_ci_upper"].to_numpy(), float(r.aic)


def _one_blas_thread() -> Any:
    """Small state-space fits gain nothing from BLAS threads and, on a busy machine, lose a
    lot to them (10x measured); limit them when threadpoolctl is available."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def forecast(series: Any, horizon: int, *, method: str = "auto", level: float = 0.95,
             period: int | None = None, time: str | None = None, value: str | None = None) -> Forecast:
    """Forecast ``horizon`` steps ahead with a ``level`` prediction interval.

    ``method``: "ets" (exponential smoothing, the form chosen by AIC), "arima" (SARIMA) or
    "auto" (whichever of the two has the lower error on the held-out last ``horizon``
    points). The backtest refits on all but the last ``horizon`` points and compares the
    forecast with a naive (seasonal naive when seasonal) baseline."""
    with _one_blas_thread():
        return _forecast(series, horizon, method, level, period, time, value)


def _forecast(series: Any, horizon: int, method: str, level: float, period: int | None,
              time: str | None, value: str | None) -> Forecast:
    import numpy as np
    import pandas as pd

    if method not in ("ets", "arima", "auto"):
        raise UsageError(f"method must be 'ets', 'arima' or 'auto', got {method!r}")
    if not isinstance(horizon, int | np.integer) or horizon < 1:
        raise UsageError(f"horizon must be a positive whole number of steps, got {horizon!r}")
    if not 0 < level < 1:
        raise UsageError(f"level must be between 0 and 1 (e.g. 0.95), got {level}")
    prep = _prepare(series, time, value)
    s = prep.series
    _constant_check(s, "forecast")
    if period is None:
        period = period_for(prep.freq)
        if period and len(s) < 2 * period + horizon + 2:
            prep.notes.append(f"too short for seasonality with period {period} "
                              f"({len(s)} points): a non-seasonal model was used")
            period = None
    elif period < 2:
        period = None
    need = (2 * period if period else 8) + horizon + 2
    if len(s) < need:
        raise UsageError(f"too few points to forecast {horizon} steps and backtest it: {len(s)} "
                         f"observations, needs at least {need}"
                         + (f" (two seasonal cycles of {period} plus the horizon)" if period else ""))
    fitters = {"ets": _fit_ets, "arima": _fit_arima}
    chosen = ["ets", "arima"] if method == "auto" else [method]
    train, test = s.iloc[:-horizon], s.iloc[-horizon:]
    trials = {}
    for m in chosen:
        try:
            name, mean, lo, hi, _ = fitters[m](train, period, horizon, level)
        except UsageError:
            continue
        trials[m] = (name, mean, lo, hi, _errors(test, mean))
    if not trials:
        raise UsageError(f"no {method} model could be fitted to this series")
    key = "smape"
    best = min(trials, key=lambda m: trials[m][4][key])
    bt_name, bt_mean, bt_lo, bt_hi, bt_err = trials[best]
    base_pred, base_name = _naive(train, horizon, period)
    base_err = _errors(test, base_pred)
    inside = float(np.mean((test.to_numpy() >= bt_lo) & (test.to_numpy() <= bt_hi)))
    name, mean, lo, hi, _ = fitters[best](s, period, horizon, level)
    future = pd.date_range(s.index[-1], periods=horizon + 1, freq=prep.freq)[1:]
    backtest = {"holdout": horizon, "model_name": bt_name, "model": bt_err, "baseline": base_name,
                "baseline_errors": base_err, "coverage": inside,
                "skill": (1 - bt_err["mae"] / base_err["mae"]) if base_err["mae"] else None,
                "candidates": {trials[m][0]: trials[m][4] for m in trials}}
    if method == "auto" and len(trials) > 1:
        prep.notes.append(f"method='auto' chose {best.upper()} by its error on the held-out points; "
                          "that choice makes the backtest slightly optimistic")
    fc = Forecast(history=s, mean=pd.Series(mean, index=future, name="mean"),
                  lower=pd.Series(lo, index=future, name="lower"),
                  upper=pd.Series(hi, index=future, name="upper"), level=level, method=name,
                  horizon=horizon, period=period, backtest=backtest, notes=prep.notes)
    better = bt_err["mae"] < base_err["mae"]
    mape = bt_err["mape"] if bt_err["mape"] is not None else bt_err["smape"]
    mape_b = base_err["mape"] if base_err["mape"] is not None else base_err["smape"]
    which = "MAPE" if bt_err["mape"] is not None else "sMAPE"
    fc.interpretation = "\n".join([
        f"{name} forecasts {s.name} for the next {horizon} steps, from {mean[0]:,.4g} to {mean[-1]:,.4g}; "
        f"{level:.0%} of outcomes are expected inside the shaded interval "
        f"(at the last step {lo[-1]:,.4g} to {hi[-1]:,.4g}).",
        f"Held out, the last {horizon} points were forecast with {which} {mape:.1f}% "
        f"(MAE {bt_err['mae']:,.4g}) against {mape_b:.1f}% for the {base_name} baseline: the model is "
        + ("better than the baseline." if better else "NOT better than the baseline; prefer the simple one.")
        + f" {inside:.0%} of the held-out points fell inside the interval."])
    return fc
