"""The A/B test's words and page: number formatting, the one-sentence verdict, the
interpretation, the forest plot and the HTML report (verdict first, then the arms, the
warnings and the details)."""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datamill.analytics.abtest import ABTestResult, Comparison, PeekingCheck


def peeking_note(pk: PeekingCheck) -> str:
    """What the p-value path shows when no warning was raised, said about that path (never
    a bare "nothing to warn about" under a chart that crosses alpha)."""
    parts = []
    for t, first in pk.first_significant.items():
        if first is None:
            parts.append(f"{t}: the cumulative p-value stayed above alpha on every day.")
        else:
            parts.append(f"{t}: the cumulative p-value fell below alpha on {first} and stayed "
                         "below it to the end; no sign that the stop was timed on a lucky day.")
    return " ".join(parts)


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _cl(alpha: float) -> str:
    return f"{(1 - alpha) * 100:g}%"


def _p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "–"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _pp(p: float | None) -> str:
    """A p-value for prose: ``p < 0.0001`` or ``p = 0.0123`` (never ``p = < 0.0001``)."""
    text = _p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _pct(v: float | None, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v * 100:+.2f}%" if signed else f"{v * 100:.2f}%"


def _val(v: float | None, pct: bool, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    if pct:
        return f"{v * 100:+.2f} pp" if signed else f"{v * 100:.2f}%"
    return f"{v:+,.4g}" if signed else f"{v:,.4g}"


def _loss(v: float | None, pct: bool) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v * 100:.3f} pp" if pct else f"{v:,.4g}"


def _sizes(obs: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v:,}" for k, v in obs.items())


def _interpret(r: ABTestResult) -> str:
    pct = r.metric == "conversion"
    what = "converted at" if pct else "averaged"
    ctrl = next(v for v in r.variants if v.name == r.control)
    out = []
    if r.srm.mismatch:
        out.append("Warning first: the arm sizes do not match the planned split (sample ratio "
                   "mismatch), which usually means broken assignment or logging; the numbers "
                   "below may be biased.")
    adj = f" ({r.correction}-adjusted for {len(r.comparisons)} comparisons)" \
        if len(r.comparisons) > 1 and r.correction != "none" else ""
    for c in r.comparisons:
        if not math.isfinite(c.p_value):
            out.append(f"{c.treatment} vs {c.control}: not enough data to compare.")
            continue
        lift = f", {_pct(c.lift, True)} relative" if c.lift is not None else ""
        verdict = (f"statistically significant at alpha = {r.alpha:g}" if c.significant else
                   f"not statistically significant at alpha = {r.alpha:g}: the data are "
                   "consistent with no difference")
        out.append(
            f"{c.treatment} {what} {_val(c.treatment_value, pct)} vs {_val(ctrl.mean, pct)} for "
            f"{c.control}: {_val(c.diff, pct, True)}{lift} ({_cl(r.alpha)} CI "
            f"{_val(c.ci_low, pct, True)} to {_val(c.ci_high, pct, True)}), {_pp(c.p_value)}"
            f"{'' if not adj else f', adjusted {_pp(c.p_adjusted)}'}{adj}; {verdict}. "
            f"Bayesian view: {_pct(c.prob_better)} probability that {c.treatment} beats "
            f"{c.control}; choosing {c.treatment} risks an expected loss of "
            f"{_loss(c.loss_treatment, pct)} (vs {_loss(c.loss_control, pct)} for keeping "
            f"{c.control}).")
    if r.peeking and r.peeking.suspicious:
        out.append("The p-value path over time suggests the test may have been stopped by "
                   "peeking; see the warnings.")
    return " ".join(out)


def _verdict(r: ABTestResult) -> str:
    """The result in one sentence: the sample ratio problem first, then the best significant
    treatment, or that no treatment differs from the control."""
    pct = r.metric == "conversion"
    what = "conversion" if pct else f"mean {r.outcome}"
    if r.srm.mismatch:
        return ("Do not trust this test yet: the arm sizes do not match the planned split "
                "(sample ratio mismatch).")
    ok = [c for c in r.comparisons if math.isfinite(c.p_value)]
    if not ok:
        return "Not enough data to compare the arms."
    sig = [c for c in ok if c.significant]
    peeked = bool(r.peeking and r.peeking.suspicious)
    caveat = ", but check the peeking warning" if peeked else ""
    if sig:
        best = max(sig, key=lambda c: c.diff)
        word = "beats" if best.diff > 0 else "is worse than"
        p = best.p_adjusted if len(r.comparisons) > 1 and r.correction != "none" else best.p_value
        others = f" ({len(sig) - 1} other arm(s) also differ)" if len(sig) > 1 else ""
        return (f"{best.treatment} {word} {best.control} on {what}: {_val(best.diff, pct, True)}"
                + (f" ({_pct(best.lift, True)})" if best.lift is not None else "")
                + f", {_pp(p)} at alpha {r.alpha:g}{others}{caveat}.")
    lo = min(ok, key=lambda c: c.p_value)
    return (f"No significant difference from {lo.control} on {what} at alpha {r.alpha:g}"
            f" (closest: {lo.treatment}, {_val(lo.diff, pct, True)}, {_pp(lo.p_value)})"
            f"{caveat}.")


def _forest(comps: list[Comparison], pct: bool, width: int = 560) -> str:
    """Each treatment's difference with its confidence interval, around a zero line."""
    vals = [v for c in comps for v in (c.ci_low, c.ci_high, c.diff) if math.isfinite(v)]
    if not vals:
        return "<p class='muted'>no interval to draw</p>"
    lo, hi = min(min(vals), 0.0), max(max(vals), 0.0)
    span = (hi - lo) or 1.0
    lw, pr, rh = 120, 90, 24
    iw = width - lw - pr
    h = rh * len(comps) + 24

    def px(v: float) -> float:
        return lw + (v - lo) / span * iw

    body = [f"<line x1='{px(0):.1f}' y1='0' x2='{px(0):.1f}' y2='{h - 16}' stroke='#999' "
            "stroke-dasharray='3,3'/>",
            f"<text x='{px(0):.1f}' y='{h - 4}' text-anchor='middle' fill='#555'>0</text>"]
    for i, c in enumerate(comps):
        y = 12 + i * rh
        col = "#59a14f" if c.significant and c.diff > 0 else "#e15759" if c.significant else "#4e79a7"
        body.append(f"<text x='{lw - 6}' y='{y + 4}' text-anchor='end' fill='#333'>"
                    f"{escape(c.treatment)}</text>")
        if math.isfinite(c.ci_low) and math.isfinite(c.ci_high):
            body.append(f"<line x1='{px(c.ci_low):.1f}' y1='{y}' x2='{px(c.ci_high):.1f}' y2='{y}' "
                        f"stroke='{col}' stroke-width='3'/>")
        if math.isfinite(c.diff):
            body.append(f"<circle cx='{px(c.diff):.1f}' cy='{y}' r='4.5' fill='{col}'><title>"
                        f"{escape(_val(c.diff, pct, True))} [{escape(_val(c.ci_low, pct, True))}, "
                        f"{escape(_val(c.ci_high, pct, True))}]</title></circle>")
        body.append(f"<text x='{width - pr + 6}' y='{y + 4}' fill='#555'>"
                    f"{escape(_val(c.diff, pct, True))}</text>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {h}' width='{width}' "
            f"height='{h}' font-family='system-ui,sans-serif' font-size='11' role='img'>"
            f"<title>difference vs control with confidence interval</title>{''.join(body)}</svg>")


def _sentences(text: str) -> list[str]:
    """The interpretation as one item per comparison or remark (it is written as sentences
    separated by '. ' after a closing parenthesis or word)."""
    import re

    return [p.strip() for p in re.split(r"(?<=[.)])\s+(?=[A-Z])", text) if p.strip()]


def _html(r: ABTestResult) -> str:
    from datamill.analytics import charts
    from datamill.analytics.html import page, table, warnings_html

    pct = r.metric == "conversion"
    cl = _cl(r.alpha)
    details = "".join(f"<li>{escape(x)}</li>" for x in _sentences(r.interpretation))
    summary = (f"<p class='verdict'>{escape(r.verdict)}</p>" +
               "<div class='grid'>" + "".join(
                   f"<div class='card'><div class='muted'>{escape(v.name)}"
                   f"{' (control)' if v.name == r.control else ''}</div>"
                   f"<div class='big'>{escape(_val(v.mean, pct))}</div>"
                   f"<div class='muted'>n = {v.n:,}</div></div>" for v in r.variants) + "</div>"
               + "<h3>Warnings</h3>" + warnings_html(r.warnings)
               + f"<h3>Details</h3><ul class='details'>{details}</ul>")
    vt = table(["variant", "rows", "share", "conversions" if pct else "sd",
                "rate" if pct else "mean", "P(best)"],
               [[v.name + (" (control)" if v.name == r.control else ""), v.n, _pct(v.share),
                 v.conversions if pct else v.sd, _val(v.mean, pct), _pct(v.prob_best)]
                for v in r.variants], numeric={1, 2, 3, 4, 5})
    ct = table(["treatment", "vs", "difference", f"{cl} CI", "relative lift", f"lift {cl} CI",
                "test statistic", "p", f"p ({r.correction})", "significant"],
               [[c.treatment, c.control, _val(c.diff, pct, True),
                 f"{_val(c.ci_low, pct, True)} … {_val(c.ci_high, pct, True)}", _pct(c.lift, True),
                 f"{_pct(c.lift_ci_low, True)} … {_pct(c.lift_ci_high, True)}", c.statistic,
                 _p(c.p_value), _p(c.p_adjusted), c.significant] for c in r.comparisons],
               numeric={2, 4, 6, 7, 8})
    freq = (ct + f"<p class='muted'>{escape(r.comparisons[0].test if r.comparisons else '')}; "
            "intervals are not adjusted for multiple comparisons.</p>" + _forest(r.comparisons, pct))
    model = ("Beta-Binomial, Beta(1,1) prior" if pct else
             "normal model of each mean (flat prior, posterior N(mean, sd²/n))")
    bt = table(["treatment", "P(better than control)", "expected loss if chosen",
                "expected loss if control kept", f"{cl} credible interval of the difference",
                f"{cl} credible interval of the lift"],
               [[c.treatment, _pct(c.prob_better), _loss(c.loss_treatment, pct),
                 _loss(c.loss_control, pct),
                 f"{_val(c.diff_cred_low, pct, True)} … {_val(c.diff_cred_high, pct, True)}",
                 f"{_pct(c.lift_cred_low, True)} … {_pct(c.lift_cred_high, True)}"]
                for c in r.comparisons], numeric={1, 2, 3})
    from datamill.analytics.abtest import DRAWS

    bayes = (f"<p class='muted'>{escape(model)}; {DRAWS:,} Monte Carlo draws, seed {r.seed}.</p>" + bt
             + charts.bars([v.name for v in r.variants],
                           [round((v.prob_best or 0) * 100, 2) for v in r.variants],
                           title="probability of being the best arm (%)", value_format="{:.1f}%"))
    s = r.srm
    srm = (("<div class='warn'>" if s.mismatch else "<div class='ok'>") +
           escape(f"chi-square = {s.chi2:.3f}, {_pp(s.p_value)} "
                  f"({'mismatch' if s.mismatch else 'no mismatch'} at p < {s.threshold})") + "</div>"
           + table(["arm", "observed", "expected share", "observed share"],
                   [[k, s.observed[k], _pct(s.expected[k]),
                     _pct(s.observed[k] / max(sum(s.observed.values()), 1))] for k in s.observed],
                   numeric={1, 2, 3}))
    sections = [("summary", "Summary", summary), ("variants", "Variants", vt),
                ("frequentist", "Difference vs control", freq),
                ("bayesian", "Posterior", bayes), ("srm", "Sample ratio check", srm)]
    if r.peeking:
        pk = r.peeking
        xs = list(range(len(pk.days)))
        series = {f"p ({t})": [v if v is not None else float("nan") for v in ps]
                  for t, ps in pk.p_values.items()}
        series[f"alpha = {r.alpha:g}"] = [r.alpha] * len(xs)
        chart = charts.line(xs, series, x_labels=[pk.days[0], pk.days[-1]] if pk.days else None,
                            title="cumulative p-value by day")
        note = (warnings_html(pk.messages) if pk.messages else
                f"<div class='ok'>{escape(peeking_note(pk))}</div>")
        pk_html = (chart + note +
                   table(["treatment", "first significant day", "times it crossed alpha"],
                         [[t, pk.first_significant[t] or "never", pk.crossings[t]]
                          for t in pk.p_values], numeric={2}))
        sections.append(("peeking", "Peeking check", pk_html))
    return page(f"A/B test: {r.outcome} by {r.variant}", sections,
                subtitle=f"{r.metric}, control {r.control}, alpha {r.alpha:g}")
