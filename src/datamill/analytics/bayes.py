"""Conjugate Bayesian updates: from a prior and data to a posterior, in closed form.

* :func:`beta_binomial` - a success probability (Beta prior, binomial data);
* :func:`normal_known_variance` - a mean with known sigma (Normal prior, Normal data);
* :func:`normal_unknown_variance` - a mean with unknown sigma (Normal-Inverse-Gamma prior;
  ``prior=None`` is the reference prior ``p(mu, sigma^2) ∝ 1/sigma^2``);
* :func:`gamma_poisson` - a rate (Gamma prior, Poisson counts with optional exposure).

Each returns a :class:`Posterior` with its parameters, mean, variance, an equal-tailed
credible interval, the highest-posterior-density (HPD) interval when the posterior is
unimodal, ``prob_greater`` / ``prob_less``, ``to_dict()`` and an interpretation. scipy is
imported lazily.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from datamill.analytics.stats import (
    InsufficientDataError,
    StatsInputError,
    _fmt,
    _jsonable,
    _numeric,
    _rich_table,
)

__all__ = ["Posterior", "beta_binomial", "gamma_poisson", "normal_known_variance",
           "normal_unknown_variance"]


@dataclass
class Posterior:
    """A posterior distribution for one parameter (``parameter``) after a conjugate update."""

    family: str  # "Beta", "Normal", "Gamma", "Student t (Normal-Inverse-Gamma)"
    parameter: str
    params: dict[str, float]
    prior: dict[str, float]
    mean: float
    variance: float
    level: float
    credible_interval: tuple[float, float]
    hpd: tuple[float, float] | None
    n: int
    interpretation: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def sd(self) -> float:
        return math.sqrt(self.variance)

    def dist(self) -> Any:
        """The posterior as a frozen scipy distribution."""
        from scipy import stats as ss

        p = self.params
        if self.family == "Beta":
            return ss.beta(p["alpha"], p["beta"])
        if self.family == "Gamma":
            return ss.gamma(p["shape"], scale=1 / p["rate"])
        if self.family == "Normal":
            return ss.norm(p["mean"], p["sd"])
        return ss.t(p["df"], loc=p["loc"], scale=p["scale"])

    def interval(self, level: float = 0.95, kind: str = "equal-tailed") -> tuple[float, float]:
        """An equal-tailed or HPD credible interval at another level."""
        _check_level(level)
        if kind == "hpd":
            h = _hpd(self.dist(), level, self.family, self.params)
            if h is None:
                raise StatsInputError("the posterior is not unimodal: no single HPD interval")
            return h
        if kind != "equal-tailed":
            raise StatsInputError(f"kind must be 'equal-tailed' or 'hpd', got {kind!r}")
        d = self.dist()
        return float(d.ppf((1 - level) / 2)), float(d.ppf((1 + level) / 2))

    def prob_greater(self, value: float) -> float:
        """Posterior probability that the parameter exceeds ``value``."""
        return float(self.dist().sf(value))

    def prob_less(self, value: float) -> float:
        return float(self.dist().cdf(value))

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({
            "family": self.family, "parameter": self.parameter, "params": self.params,
            "prior": self.prior, "mean": self.mean, "variance": self.variance, "sd": self.sd,
            "level": self.level, "credible_interval": list(self.credible_interval),
            "hpd": list(self.hpd) if self.hpd else None, "n": self.n,
            "interpretation": self.interpretation, "details": self.details,
        })

    def __rich__(self) -> Any:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params.items())
        rows = [("posterior", f"{self.family}({params})"), ("mean", self.mean), ("sd", self.sd),
                (f"{self.level:.0%} credible interval", _ci(self.credible_interval)),
                (f"{self.level:.0%} HPD", _ci(self.hpd) if self.hpd else None), ("n", self.n)]
        return _rich_table(f"posterior for {self.parameter}", rows, [self.interpretation])


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _check_level(level: float) -> None:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise StatsInputError(f"level must be between 0 and 1, got {level!r}")


def _positive(name: str, v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise StatsInputError(f"{name} must be a positive number, got {v!r}") from None
    if not (math.isfinite(f) and f > 0):
        raise StatsInputError(f"{name} must be a positive number, got {v!r}")
    return f


def _hpd(dist: Any, level: float, family: str, params: dict[str, float]) -> tuple[float, float] | None:
    """Shortest interval with posterior mass ``level`` (unimodal posteriors only)."""
    from scipy import optimize

    if family == "Beta":
        a, b = params["alpha"], params["beta"]
        if a <= 1 and b <= 1:
            return None  # U-shaped or uniform: no unique HPD interval
        if a <= 1:
            return (0.0, float(dist.ppf(level)))
        if b <= 1:
            return (float(dist.ppf(1 - level)), 1.0)
    if family == "Gamma" and params["shape"] <= 1:
        return (0.0, float(dist.ppf(level)))
    if family != "Beta" and family != "Gamma":
        # symmetric unimodal posteriors: HPD == equal-tailed
        return float(dist.ppf((1 - level) / 2)), float(dist.ppf((1 + level) / 2))

    def width(p: float) -> float:
        return float(dist.ppf(p + level) - dist.ppf(p))

    res = optimize.minimize_scalar(width, bounds=(0.0, 1 - level), method="bounded",
                                   options={"xatol": 1e-12})
    p = float(res.x)
    return float(dist.ppf(p)), float(dist.ppf(p + level))


def _finish(post: Posterior, what: str, data: str) -> Posterior:
    lo, hi = post.credible_interval
    params = ", ".join(_fmt(v) for v in post.params.values())
    prior = ", ".join(_fmt(v) for v in post.prior.values()) if post.prior else "reference"
    post.interpretation = (
        f"After {data}, starting from a {post.details.get('prior_family', post.family)}({prior}) "
        f"prior, the posterior for {what} is {post.family}({params}): mean {_fmt(post.mean)}, "
        f"sd {_fmt(post.sd)}. Given the prior and the data there is a {post.level:.0%} "
        f"probability that {what} lies between {_fmt(lo)} and {_fmt(hi)}"
        + (f" (shortest such interval: {_ci(post.hpd)})." if post.hpd and post.hpd != post.credible_interval
           else "."))
    return post


def beta_binomial(successes: Any, trials: int | None = None, *, prior: tuple[float, float] = (1.0, 1.0),
                  level: float = 0.95) -> Posterior:
    """Beta(alpha, beta) prior + ``successes`` of ``trials`` -> Beta(alpha + s, beta + n - s).

    ``successes`` may also be an array of 0/1 outcomes (then leave ``trials`` out).
    The default prior Beta(1, 1) is uniform.
    """
    import numpy as np
    from scipy import stats as ss

    _check_level(level)
    a0, b0 = _positive("prior alpha", prior[0]), _positive("prior beta", prior[1])
    if trials is None:
        v, _ = _numeric(successes, "outcomes", "Beta-Binomial update")
        if not np.isin(v, (0.0, 1.0)).all():
            raise StatsInputError("outcomes must be 0/1 or booleans (or pass successes and trials=)")
        s, n = int(v.sum()), int(v.size)
    else:
        try:
            s, n = int(successes), int(trials)
        except (TypeError, ValueError):
            raise StatsInputError(f"successes and trials must be whole numbers, got {successes!r}, {trials!r}") from None
        if s != successes or n != trials or n < 0 or not 0 <= s <= n:
            raise StatsInputError(f"need 0 <= successes <= trials (whole numbers), got {successes!r} of {trials!r}")
    a, b = a0 + s, b0 + n - s
    d = ss.beta(a, b)
    mean = a / (a + b)
    var = a * b / ((a + b) ** 2 * (a + b + 1))
    ci = (float(d.ppf((1 - level) / 2)), float(d.ppf((1 + level) / 2)))
    post = Posterior("Beta", "success probability", {"alpha": a, "beta": b},
                     {"alpha": a0, "beta": b0}, mean, var, level, ci, None, n,
                     details={"successes": s, "trials": n,
                              "mode": (a - 1) / (a + b - 2) if a > 1 and b > 1 else None})
    post.hpd = _hpd(d, level, "Beta", post.params)
    return _finish(post, "the success probability", f"{s} successes in {n} trials")


def normal_known_variance(data: Any, *, sigma: float, prior_mean: float = 0.0,
                          prior_sd: float = 1e6, level: float = 0.95) -> Posterior:
    """Normal(prior_mean, prior_sd²) prior on a mean, data Normal with known ``sigma``.

    Posterior precision = 1/prior_sd² + n/sigma²; posterior mean = precision-weighted average.
    """
    from scipy import stats as ss

    _check_level(level)
    sigma = _positive("sigma", sigma)
    tau0 = _positive("prior_sd", prior_sd)
    x, dropped = _numeric(data, "data", "Normal-Normal update")
    n = x.size
    xbar = float(x.mean())
    prec = 1 / tau0 ** 2 + n / sigma ** 2
    mean = (prior_mean / tau0 ** 2 + n * xbar / sigma ** 2) / prec
    var = 1 / prec
    d = ss.norm(mean, math.sqrt(var))
    ci = (float(d.ppf((1 - level) / 2)), float(d.ppf((1 + level) / 2)))
    post = Posterior("Normal", "mean", {"mean": mean, "sd": math.sqrt(var)},
                     {"mean": float(prior_mean), "sd": tau0}, mean, var, level, ci, ci, n,
                     details={"sample_mean": xbar, "sigma": sigma, "dropped": dropped,
                              "predictive_sd": math.sqrt(var + sigma ** 2)})
    return _finish(post, "the mean", f"{n} observations (sample mean {_fmt(xbar)}, known sd {_fmt(sigma)})")


def normal_unknown_variance(data: Any, *, prior: tuple[float, float, float, float] | None = None,
                            level: float = 0.95) -> Posterior:
    """Normal-Inverse-Gamma update for a Normal mean with unknown variance.

    ``prior = (mu0, kappa0, alpha0, beta0)``: ``mu | sigma² ~ N(mu0, sigma²/kappa0)``,
    ``sigma² ~ Inv-Gamma(alpha0, beta0)``. ``prior=None`` is the reference prior
    ``p(mu, sigma²) ∝ 1/sigma²``, whose marginal posterior for the mean is
    ``t_{n-1}(xbar, s²/n)``: the credible interval equals the classical t interval.
    The posterior for the mean is Student t with ``2 alpha_n`` df; ``details`` holds the
    updated (mu_n, kappa_n, alpha_n, beta_n) and the posterior mean of sigma².
    """
    from scipy import stats as ss

    _check_level(level)
    x, dropped = _numeric(data, "data", "Normal-Inverse-Gamma update")
    n = x.size
    if prior is None:
        mu0, k0, a0, b0 = 0.0, 0.0, -0.5, 0.0
        if n < 2:
            raise InsufficientDataError("the reference-prior update needs at least 2 values")
        prior_d: dict[str, float] = {}
    else:
        if len(prior) != 4:
            raise StatsInputError("prior must be (mu0, kappa0, alpha0, beta0)")
        mu0 = float(prior[0])
        k0, a0, b0 = (_positive("kappa0", prior[1]), _positive("alpha0", prior[2]),
                      _positive("beta0", prior[3]))
        prior_d = {"mu0": mu0, "kappa0": k0, "alpha0": a0, "beta0": b0}
    xbar = float(x.mean())
    ss_ = float(((x - xbar) ** 2).sum())
    kn = k0 + n
    mun = (k0 * mu0 + n * xbar) / kn
    an = a0 + n / 2
    bn = b0 + ss_ / 2 + (k0 * n * (xbar - mu0) ** 2 / (2 * kn) if k0 else 0.0)
    if bn <= 0:
        raise StatsInputError("the data are constant and the prior carries no variance information: "
                              "the posterior for sigma² is degenerate (give an informative prior)")
    df = 2 * an
    scale = math.sqrt(bn / (an * kn))
    d = ss.t(df, loc=mun, scale=scale)
    var = scale ** 2 * df / (df - 2) if df > 2 else math.inf
    ci = (float(d.ppf((1 - level) / 2)), float(d.ppf((1 + level) / 2)))
    post = Posterior("Student t", "mean", {"df": df, "loc": mun, "scale": scale}, prior_d,
                     mun, var, level, ci, ci, n,
                     details={"prior_family": "Normal-Inverse-Gamma" if prior else "reference",
                              "mu_n": mun, "kappa_n": kn, "alpha_n": an, "beta_n": bn,
                              "sigma2_mean": bn / (an - 1) if an > 1 else None, "dropped": dropped})
    return _finish(post, "the mean", f"{n} observations (sample mean {_fmt(xbar)})")


def gamma_poisson(counts: Any, exposure: Any = None, *, prior: tuple[float, float] = (1.0, 1.0),
                  level: float = 0.95) -> Posterior:
    """Gamma(shape, rate) prior on a Poisson rate + counts -> Gamma(shape + Σy, rate + Σexposure).

    ``exposure`` (time, population, ...) defaults to 1 per count; a scalar is the total
    exposure for all counts.
    """
    import numpy as np
    from scipy import stats as ss

    _check_level(level)
    a0, b0 = _positive("prior shape", prior[0]), _positive("prior rate", prior[1])
    y, dropped = _numeric(counts, "counts", "Gamma-Poisson update")
    if (y < 0).any() or (y != np.round(y)).any():
        raise StatsInputError("Poisson counts must be non-negative whole numbers")
    if exposure is None:
        t = float(y.size)
    elif np.ndim(exposure) == 0:
        t = _positive("exposure", exposure)
    else:
        e, _ = _numeric(exposure, "exposure", "Gamma-Poisson update")
        if e.size != y.size or (e <= 0).any():
            raise StatsInputError("exposure must be positive, one value per count")
        t = float(e.sum())
    a, b = a0 + float(y.sum()), b0 + t
    d = ss.gamma(a, scale=1 / b)
    ci = (float(d.ppf((1 - level) / 2)), float(d.ppf((1 + level) / 2)))
    post = Posterior("Gamma", "rate", {"shape": a, "rate": b}, {"shape": a0, "rate": b0},
                     a / b, a / b ** 2, level, ci, None, int(y.size),
                     details={"total_count": float(y.sum()), "exposure": t, "dropped": dropped})
    post.hpd = _hpd(d, level, "Gamma", post.params)
    return _finish(post, "the rate", f"{_fmt(float(y.sum()))} events over an exposure of {_fmt(t)}")
