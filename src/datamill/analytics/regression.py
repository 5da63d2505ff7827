"""Regression for understanding: ordinary least squares and logistic regression with the
table people expect (coefficients, standard errors, p-values, intervals), the diagnostics
that say whether to trust it (VIF, Breusch-Pagan, Jarque-Bera, residual plots) and a
plain-language reading of every coefficient.

statsmodels does the fitting; this module prepares the data (missing rows dropped and
counted, categories one-hot encoded against a named reference level), refuses inputs that
would give a silent NaN or a meaningless fit, and packages the result.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from datamill.analytics import charts, html
from datamill.analytics.jsonable import jsonable
from datamill.analytics.regression_design import (  # noqa: F401 (re-exported)
    _check_design,
    _check_y,
    _Encoder,
    _formula_design,
    _formula_references,
    _separating,
)
from datamill.analytics.source import to_pandas
from datamill.errors import UsageError

__all__ = ["Coefficient", "RegressionResult", "logit", "ols"]

MAX_PLOT_POINTS = 2000
ROBUST = ("HC0", "HC1", "HC2", "HC3")


@dataclass
class Coefficient:
    """One row of the coefficient table."""

    term: str
    coefficient: float
    std_error: float
    statistic: float  # t for OLS, z for logit
    p_value: float
    ci_low: float
    ci_high: float
    odds_ratio: float | None = None  # logit only: exp(coefficient)


@dataclass
class RegressionResult:
    """A fitted OLS or logit model, its diagnostics and its reading in words."""

    kind: str  # "ols" | "logit"
    y: str
    predictors: list[str]
    coefficients: list[Coefficient]
    n: int
    n_dropped: int
    level: float
    r_squared: float | None = None
    adj_r_squared: float | None = None
    pseudo_r_squared: float | None = None  # McFadden, logit only
    f_statistic: float | None = None
    f_p_value: float | None = None
    lr_statistic: float | None = None  # logit: likelihood-ratio test against the intercept only
    lr_p_value: float | None = None
    residual_std_error: float | None = None
    log_likelihood: float | None = None
    aic: float | None = None
    bic: float | None = None
    df_model: float | None = None
    df_resid: float | None = None
    robust: str | None = None
    formula: str | None = None
    vif: dict[str, float] = field(default_factory=dict)
    reference_levels: dict[str, str] = field(default_factory=dict)
    heteroskedasticity: dict[str, Any] | None = None  # Breusch-Pagan
    normality: dict[str, Any] | None = None  # Jarque-Bera on the residuals
    residual_plot: dict[str, list[float]] = field(default_factory=dict)  # fitted, residual (sampled)
    residual_histogram: dict[str, list[float]] = field(default_factory=dict)  # edges, counts
    warnings: list[str] = field(default_factory=list)
    interpretation: str = ""
    _fit: Any = field(default=None, repr=False, compare=False)
    _encoder: Any = field(default=None, repr=False, compare=False)

    # -- access -------------------------------------------------------------------------

    def coefficient(self, term: str) -> Coefficient:
        for c in self.coefficients:
            if c.term == term:
                return c
        raise KeyError(f"no term {term!r}; terms are {[c.term for c in self.coefficients]}")

    def table(self) -> Any:
        """The coefficient table as a pandas DataFrame, one row per term."""
        import pandas as pd

        rows = [{k: v for k, v in c.__dict__.items() if self.kind == "logit" or k != "odds_ratio"}
                for c in self.coefficients]
        return pd.DataFrame(rows).set_index("term")

    def predict(self, new_data: Any) -> Any:
        """Predictions for new rows (expected y for OLS, probability of 1 for logit) as a
        pandas Series; rows with a missing predictor get NaN."""
        import numpy as np
        import pandas as pd

        df = to_pandas(new_data)
        if self.formula is not None:
            try:
                out = self._fit.predict(df)
            except Exception as exc:  # patsy / formulaic raise many types
                raise UsageError(f"cannot predict with formula {self.formula!r}: {exc}") from None
            return pd.Series(np.asarray(out, dtype=float), index=getattr(out, "index", None), name=self.y)
        X = self._encoder.transform(df)
        ok = X.notna().all(axis=1)
        pred = pd.Series(np.nan, index=df.index, name=self.y)
        if ok.any():
            pred[ok] = np.asarray(self._fit.predict(X[ok].astype(float)), dtype=float)
        return pred

    # -- output -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        skip = {"_fit", "_encoder"}
        out = {k: jsonable(v) for k, v in self.__dict__.items() if k not in skip}
        out["coefficients"] = [jsonable(c.__dict__) for c in self.coefficients]
        return out

    def to_html(self) -> str:
        stat = "t" if self.kind == "ols" else "z"
        pct = f"{self.level:.0%}"
        headers = ["term", "coefficient", "std. error", stat, "p-value", f"{pct} CI low", f"{pct} CI high"]
        if self.kind == "logit":
            headers.append("odds ratio")
        rows = []
        for c in self.coefficients:
            r = [c.term, c.coefficient, c.std_error, c.statistic, c.p_value, c.ci_low, c.ci_high]
            if self.kind == "logit":
                r.append(c.odds_ratio)
            rows.append(r)
        coef = html.table(headers, rows, numeric=set(range(1, len(headers))))
        fit_rows = [[k, v] for k, v in self._fit_stats()]
        fit = html.table(["statistic", "value"], fit_rows, numeric={1})
        refs = ""
        if self.reference_levels:
            refs = "<p class='muted'>Reference levels: " + ", ".join(
                f"{html.escape(k)} = {html.escape(v)}" for k, v in self.reference_levels.items()) + "</p>"
        vif = ""
        if self.vif:
            vif = "<h3>Variance inflation factors</h3>" + html.table(
                ["predictor", "VIF"], [[k, v] for k, v in self.vif.items()], numeric={1})
        what = "residual" if self.kind == "ols" else "Pearson residual"
        plots = "<div class='grid'>" + "".join(f"<div class='card'>{svg}</div>" for svg in (
            charts.scatter(self.residual_plot.get("fitted", []), self.residual_plot.get("residual", []),
                           x_label="fitted" if self.kind == "ols" else "fitted probability",
                           y_label=what, title=f"{what}s vs fitted", width=360),
            charts.histogram(self.residual_histogram.get("edges", []),
                             [int(c) for c in self.residual_histogram.get("counts", [])],
                             title=f"distribution of {what}s"),
        )) + "</div>"
        tests = []
        if self.heteroskedasticity:
            h = self.heteroskedasticity
            tests.append(["Breusch-Pagan (constant variance)", h["statistic"], h["p_value"]])
        if self.normality:
            j = self.normality
            tests.append(["Jarque-Bera (normal residuals)", j["statistic"], j["p_value"]])
        diag = html.table(["test", "statistic", "p-value"], tests, numeric={1, 2}) if tests else ""
        title = f"{'Linear' if self.kind == 'ols' else 'Logistic'} regression of {self.y}"
        return html.page(title, [
            ("summary", "In words", "".join(f"<p>{html.escape(p)}</p>" for p in self.interpretation.split("\n") if p)),
            ("coefficients", "Coefficients", coef + refs),
            ("fit", "Model fit", fit + vif),
            ("diagnostics", "Diagnostics", diag + plots),
            ("warnings", "Warnings", html.warnings_html(self.warnings)),
        ], subtitle=f"n = {self.n:,}" + (f", {self.n_dropped:,} rows with missing values dropped"
                                         if self.n_dropped else ""))

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        t = Table(title=f"{self.kind.upper()} regression of {self.y} (n = {self.n:,})")
        stat = "t" if self.kind == "ols" else "z"
        for h in ("term", "coef", "std err", stat, "p", "CI low", "CI high"):
            t.add_column(h, justify="left" if h == "term" else "right")
        for c in self.coefficients:
            t.add_row(c.term, *(html.fmt(v) for v in (c.coefficient, c.std_error, c.statistic,
                                                       c.p_value, c.ci_low, c.ci_high)))
        fit = Table(show_header=False, box=None)
        for k, v in self._fit_stats():
            fit.add_row(k, html.fmt(v))
        parts: list[Any] = [t, fit, Text(self.interpretation)]
        parts += [Text("⚠ " + w, style="yellow") for w in self.warnings]
        return Group(*parts)

    def _fit_stats(self) -> list[tuple[str, Any]]:
        pairs = [("observations", self.n), ("rows dropped (missing values)", self.n_dropped)]
        if self.kind == "ols":
            pairs += [("R²", self.r_squared), ("adjusted R²", self.adj_r_squared),
                      ("F-statistic", self.f_statistic), ("F p-value", self.f_p_value),
                      ("residual std. error", self.residual_std_error)]
        else:
            pairs += [("pseudo R² (McFadden)", self.pseudo_r_squared),
                      ("LR statistic", self.lr_statistic), ("LR p-value", self.lr_p_value)]
        pairs += [("log-likelihood", self.log_likelihood), ("AIC", self.aic), ("BIC", self.bic)]
        if self.robust:
            pairs.append(("standard errors", f"robust ({self.robust})"))
        return pairs


# -- public entry points ----------------------------------------------------------------


def ols(data: Any, y: str | None = None, x: list[str] | str | None = None, *,
        formula: str | None = None, robust: str | None = None, level: float = 0.95) -> RegressionResult:
    """Ordinary least squares of ``y`` on ``x`` (all other columns when ``x`` is None), or on
    a formula (``"y ~ x1 + C(group)"``). ``robust`` ("HC0"–"HC3") uses
    heteroskedasticity-consistent standard errors."""
    return _fit("ols", data, y, x, formula, robust, level)


def logit(data: Any, y: str | None = None, x: list[str] | str | None = None, *,
          formula: str | None = None, robust: str | None = None, level: float = 0.95) -> RegressionResult:
    """Logistic regression of a 0/1 (or boolean) ``y`` on ``x`` or on a formula."""
    return _fit("logit", data, y, x, formula, robust, level)


# -- design matrix ----------------------------------------------------------------------


def _fit(kind: str, data: Any, y: str | None, x: Any, formula: str | None, robust: str | None,
         level: float) -> RegressionResult:

    if not 0 < level < 1:
        raise UsageError(f"level must be between 0 and 1 (e.g. 0.95), got {level}")
    if robust is not None:
        robust = robust.upper()
        if robust not in ROBUST:
            raise UsageError(f"robust must be one of {', '.join(ROBUST)} (or None), got {robust!r}")
    df = to_pandas(data)
    if formula is not None:
        if x is not None:
            raise UsageError("pass either x or formula, not both")
        if "~" not in formula:
            raise UsageError(f"formula {formula!r} has no '~' (write it as 'y ~ x1 + x2')")
        lhs = formula.split("~", 1)[0].strip()
        y = y or lhs
    if not y:
        raise UsageError("name the response column: ols(data, y='sales', x=['price', 'ads'])")
    if formula is None and y not in df.columns:
        raise UsageError(f"response column {y!r} not found; the data has {list(df.columns)}")
    if y in df.columns:
        df = df.copy()
        df[y] = _check_y(kind, df[y], y)

    encoder = formula_model = None
    if formula is None:
        xs = [x] if isinstance(x, str) else list(x) if x is not None else [c for c in df.columns if c != y]
        missing = [c for c in xs if c not in df.columns]
        if missing:
            raise UsageError(f"predictor column(s) {missing} not found; the data has {list(df.columns)}")
        if y in xs:
            raise UsageError(f"{y!r} is both the response and a predictor")
        if not xs:
            raise UsageError("no predictors: pass x=[...] or a formula")
        sub = df[[y, *xs]]
        complete = sub.notna().all(axis=1)
        n_dropped = int((~complete).sum())
        sub = sub[complete]
        encoder = _Encoder(sub, xs)
        X = encoder.transform(sub)
        endog = sub[y].astype(float)
        predictors = xs
    else:
        X, endog, n_dropped, predictors, formula_model = _formula_design(kind, df, formula, y)

    n, k = X.shape
    if n == 0:
        raise UsageError(f"no complete rows: every row has a missing value in {y!r} or a predictor")
    _check_design(kind, X, endog, y)
    ref = {}
    if encoder is not None:
        ref = {c: str(lv[0]) for c, lv in encoder.levels.items()}
    else:
        ref = _formula_references(df, list(X.columns))

    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.regression.linear_model import OLS

    res = RegressionResult(kind=kind, y=y, predictors=predictors, coefficients=[], n=n,
                           n_dropped=n_dropped, level=level, robust=robust, formula=formula,
                           reference_levels=ref, _encoder=encoder)
    if n_dropped:
        res.warnings.append(f"{n_dropped:,} row(s) with a missing value in {y!r} or a predictor were "
                            f"dropped; the model uses {n:,} rows.")
    cov = {"cov_type": robust} if robust else {}
    if kind == "ols":
        fit = (formula_model or OLS(endog, X)).fit(method="qr", **cov)
    else:
        fit = _fit_logit(formula_model or Logit(endog, X), endog, X, cov)
    res._fit = fit
    _fill_table(res, fit, level)
    if kind == "ols" and not robust:
        _precise_ols_table(res, fit, X, endog, level)
    if kind == "ols":
        _fill_ols(res, fit, X)
    else:
        _fill_logit(res, fit)
    _fill_vif(res, X)
    res.interpretation = _interpret(res)
    return res


def _fit_logit(model: Any, endog: Any, X: Any, cov: dict[str, Any]) -> Any:
    import numpy as np

    sep = _separating(endog, X)
    if sep:
        raise UsageError(f"perfect separation: {sep} predicts the response exactly, so its coefficient "
                         "is infinite and no maximum-likelihood estimate exists. Drop or coarsen that "
                         "predictor, or use a penalised model")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = model.fit(disp=False, maxiter=200, tol=1e-12, **cov)
        except Exception as exc:  # PerfectSeparationError, LinAlgError
            if "separation" in str(exc).lower() or "Separation" in type(exc).__name__:
                raise UsageError("perfect separation: some combination of the predictors predicts the "
                                 "response exactly, so the coefficients are infinite. Drop or coarsen "
                                 "predictors, or use a penalised model") from None
            raise UsageError(f"the logistic regression could not be fitted: {exc}") from None
    msgs = [str(w.message) for w in caught]
    p = np.asarray(fit.predict(X), dtype=float)
    if any("separation" in m.lower() for m in msgs) or (len(p) and ((p < 1e-8) | (p > 1 - 1e-8)).all()):
        raise UsageError("perfect separation: some combination of the predictors predicts the response "
                         "exactly, so the coefficients are infinite. Drop or coarsen predictors, or use "
                         "a penalised model")
    if not fit.mle_retvals.get("converged", True) or not np.isfinite(np.asarray(fit.bse)).all():
        raise UsageError("the logistic regression did not converge (often quasi-separation: a predictor "
                         "almost determines the response, or too few events). Drop or coarsen predictors")
    return fit


def _fill_table(res: RegressionResult, fit: Any, level: float) -> None:
    import numpy as np

    ci = np.asarray(fit.conf_int(alpha=1 - level), dtype=float)
    names = list(fit.model.exog_names)
    params, bse = np.asarray(fit.params, float), np.asarray(fit.bse, float)
    stats, pv = np.asarray(fit.tvalues, float), np.asarray(fit.pvalues, float)
    for i, nm in enumerate(names):
        res.coefficients.append(Coefficient(
            term=nm, coefficient=float(params[i]), std_error=float(bse[i]), statistic=float(stats[i]),
            p_value=float(pv[i]), ci_low=float(ci[i, 0]), ci_high=float(ci[i, 1]),
            odds_ratio=_safe_exp(params[i]) if res.kind == "logit" else None))
    res.log_likelihood, res.aic, res.bic = float(fit.llf), float(fit.aic), float(fit.bic)
    res.df_model, res.df_resid = float(fit.df_model), float(fit.df_resid)


def _precise_ols_table(res: RegressionResult, fit: Any, X: Any, endog: Any, level: float) -> None:
    """Standard errors from the inverse of R (X = QR) rather than of X'X, which squares the
    condition number: on ill-conditioned data (NIST Longley) this keeps ~11 correct digits."""
    import numpy as np
    import scipy.linalg as sl
    from scipy import stats

    arr = X.to_numpy(dtype=float)
    norms = np.linalg.norm(arr, axis=0)
    q, r = np.linalg.qr(arr / norms)
    params = sl.solve_triangular(r, q.T @ endog.to_numpy(dtype=float)) / norms
    rinv = sl.solve_triangular(r, np.eye(r.shape[0]))
    unscaled = (rinv @ rinv.T) / np.outer(norms, norms)
    resid = endog.to_numpy(dtype=float) - arr @ params
    df_resid = float(fit.df_resid)
    scale = float(resid @ resid) / df_resid
    bse = np.sqrt(np.diag(unscaled) * scale)
    q_t = stats.t.ppf(1 - (1 - level) / 2, df_resid)
    for i, c in enumerate(res.coefficients):
        c.coefficient, c.std_error = float(params[i]), float(bse[i])
        c.statistic = c.coefficient / c.std_error if c.std_error > 0 else math.inf
        c.p_value = float(2 * stats.t.sf(abs(c.statistic), df_resid))
        c.ci_low, c.ci_high = c.coefficient - q_t * c.std_error, c.coefficient + q_t * c.std_error


def _safe_exp(v: float) -> float:
    return math.exp(v) if v < 700 else math.inf


def _fill_ols(res: RegressionResult, fit: Any, X: Any) -> None:
    import numpy as np
    from statsmodels.stats.diagnostic import het_breuschpagan
    from statsmodels.stats.stattools import jarque_bera

    res.r_squared, res.adj_r_squared = float(fit.rsquared), float(fit.rsquared_adj)
    res.residual_std_error = float(np.sqrt(np.sum(np.asarray(fit.resid, float) ** 2) / fit.df_resid))
    if X.shape[1] > 1:
        res.f_statistic, res.f_p_value = float(np.squeeze(fit.fvalue)), float(np.squeeze(fit.f_pvalue))
    resid = np.asarray(fit.resid, dtype=float)
    fitted = np.asarray(fit.fittedvalues, dtype=float)
    if res.residual_std_error == 0:
        res.warnings.append("the model fits the data exactly (all residuals are zero): standard errors "
                            "and p-values are meaningless")
    elif X.shape[1] > 1:
        lm, lm_p, f, f_p = het_breuschpagan(resid, X.to_numpy(dtype=float))
        res.heteroskedasticity = {"test": "Breusch-Pagan", "statistic": float(lm), "p_value": float(lm_p),
                                  "f_statistic": float(f), "f_p_value": float(f_p),
                                  "constant_variance": bool(lm_p >= 0.05)}
        if lm_p < 0.05:
            if res.robust:
                res.warnings.append(f"the residual spread changes with the predictors (Breusch-Pagan "
                                    f"p = {_p(lm_p)}); the robust ({res.robust}) standard errors "
                                    "used here allow for it.")
            else:
                res.warnings.append(f"the residual spread changes with the predictors (Breusch-Pagan "
                                    f"p = {_p(lm_p)}): the usual standard errors and p-values may be "
                                    "wrong. Refit with robust='HC3'.")
    if res.residual_std_error > 0:
        jb, jb_p, skew, kurt = jarque_bera(resid)
        res.normality = {"test": "Jarque-Bera", "statistic": float(jb), "p_value": float(jb_p),
                         "skew": float(skew), "kurtosis": float(kurt), "normal": bool(jb_p >= 0.05)}
        if jb_p < 0.05:
            note = (" With this many rows the coefficient intervals are still reliable."
                    if res.n >= 100 else " With few rows the p-values and intervals are approximate.")
            res.warnings.append(f"the residuals are not normally distributed (Jarque-Bera p = "
                                f"{_p(jb_p)}, skew {skew:.2f}, kurtosis {kurt:.2f}).{note}")
    _plots(res, fitted, resid)


def _fill_logit(res: RegressionResult, fit: Any) -> None:
    import numpy as np

    res.pseudo_r_squared = float(fit.prsquared)
    res.lr_statistic, res.lr_p_value = float(fit.llr), float(fit.llr_pvalue)
    fitted = np.asarray(fit.predict(), dtype=float)
    resid = np.asarray(fit.resid_pearson, dtype=float)
    _plots(res, fitted, resid)
    events = int(np.asarray(fit.model.endog).sum())
    few = min(events, res.n - events)
    k = len(res.coefficients) - 1
    if k and few / k < 10:
        res.warnings.append(f"only {few} observations in the rarer outcome for {k} predictor(s) (fewer "
                            "than 10 per predictor): the estimates may be unstable.")


def _plots(res: RegressionResult, fitted: Any, resid: Any) -> None:
    import numpy as np

    n = len(resid)
    idx = np.arange(n)
    if n > MAX_PLOT_POINTS:
        idx = np.sort(np.random.default_rng(0).choice(n, MAX_PLOT_POINTS, replace=False))
    res.residual_plot = {"fitted": fitted[idx].tolist(), "residual": resid[idx].tolist(),
                         "sampled": [int(len(idx)), int(n)]}
    finite = resid[np.isfinite(resid)]
    if len(finite):
        bins = int(min(40, max(5, round(math.sqrt(len(finite))))))
        counts, edges = np.histogram(finite, bins=bins)
        res.residual_histogram = {"edges": edges.tolist(), "counts": counts.tolist()}


def _fill_vif(res: RegressionResult, X: Any) -> None:
    import numpy as np

    cols = [c for c in X.columns if c != "Intercept"]
    if len(cols) < 2:
        res.vif = {c: 1.0 for c in cols}
        return
    arr = X.to_numpy(dtype=float)
    # VIF_j = diag(inverse correlation matrix) of the predictors (same as 1 / (1 - R²_j))
    corr = np.corrcoef(arr[:, [list(X.columns).index(c) for c in cols]], rowvar=False)
    try:
        inv = np.linalg.inv(corr)
        vifs = np.diag(inv)
    except np.linalg.LinAlgError:
        vifs = np.full(len(cols), np.inf)
    res.vif = {c: float(v) for c, v in zip(cols, vifs, strict=True)}
    high = [f"{c} ({v:,.0f})" for c, v in res.vif.items() if v > 10]
    if high:
        res.warnings.append("strong multicollinearity: VIF above 10 for " + ", ".join(high) +
                            ". Their individual coefficients are unstable and hard to interpret; "
                            "consider dropping or combining some of them.")


# -- words ------------------------------------------------------------------------------


def _p(p: float) -> str:
    if p != p:
        return "n/a"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def _num(v: float) -> str:
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e5 or a < 1e-3:
        return f"{v:.3g}"
    digits = max(0, 2 - int(math.floor(math.log10(a))))
    return f"{v:,.{min(digits, 4)}f}"


def _term_label(res: RegressionResult, term: str) -> tuple[str, bool]:
    """A readable subject for a term and whether it is a category indicator."""
    m = re.match(r"^(?:C\()?([^()\[\]]+?)(?:,.*)?\)?\[T\.(.+)\]$", term)
    if m:
        col, lv = m.group(1), m.group(2)
        ref = res.reference_levels.get(col)
        return (f"{col} = {lv}" + (f" (rather than {ref})" if ref else "")), True
    return term, False


def _interpret(res: RegressionResult) -> str:
    pct = f"{res.level:.0%}"
    lines = []
    others = len(res.coefficients) > 2
    hold = ", holding the others fixed" if others else ""
    alpha = 1 - res.level
    for c in res.coefficients:
        if c.term in ("Intercept", "const"):
            continue
        subject, is_cat = _term_label(res, c.term)
        sig = c.p_value < alpha
        ptxt = f"p {_p(c.p_value)}" if _p(c.p_value).startswith("<") else f"p = {_p(c.p_value)}"
        if res.kind == "ols":
            effect = f"{'+' if c.coefficient >= 0 else ''}{_num(c.coefficient)} {res.y}"
            ci = f"{pct} CI {_num(c.ci_low)} to {_num(c.ci_high)}, {ptxt}"
            head = (f"Being {subject} is associated with {effect}" if is_cat
                    else f"Each extra unit of {subject} is associated with {effect}")
        else:
            orr = c.odds_ratio if c.odds_ratio is not None else float("nan")
            ci = f"{pct} CI {_num(_safe_exp(c.ci_low))} to {_num(_safe_exp(c.ci_high))}, {ptxt}"
            head = (f"Being {subject} multiplies the odds of {res.y} = 1 by {_num(orr)}" if is_cat
                    else f"Each extra unit of {subject} multiplies the odds of {res.y} = 1 by {_num(orr)}")
        tail = "" if sig else f"; this is not distinguishable from no effect at the {alpha:.0%} level"
        lines.append(f"{head} ({ci}){hold}{tail}.")
    if res.kind == "ols" and res.r_squared is not None:
        fit = (f"The model explains {res.r_squared:.0%} of the variance in {res.y} "
               f"(R² = {res.r_squared:.3f}, adjusted {res.adj_r_squared:.3f}, n = {res.n:,})")
        if res.f_p_value is not None:
            fit += (f"; taken together the predictors {'do' if res.f_p_value < alpha else 'do not'} "
                    f"explain {res.y} better than its mean (F p {_p(res.f_p_value) if _p(res.f_p_value).startswith('<') else '= ' + _p(res.f_p_value)})")
        lines.insert(0, fit + ".")
    elif res.kind == "logit":
        lines.insert(0, f"McFadden's pseudo R² is {res.pseudo_r_squared:.3f} (n = {res.n:,}); the "
                        f"predictors {'do' if (res.lr_p_value or 1) < alpha else 'do not'} improve on "
                        f"the base rate (likelihood-ratio p {_p(res.lr_p_value or float('nan'))}).")
    lines.append("These are associations in this data, not causal effects.")
    return "\n".join(lines)
