"""Hypothesis tests, confidence intervals, effect sizes and multiple-testing corrections.

Every test returns one :class:`TestResult` (statistic, p-value, degrees of freedom,
confidence interval, estimate, effect size, sample sizes, the assumptions it checked, the
warnings they raised and a plain-language ``interpretation``). Confidence intervals return a
:class:`ConfidenceInterval`, corrections an :class:`AdjustedPValues`. All three have
``to_dict()`` (JSON-able) and ``__rich__`` (a rich table).

Inputs are array-likes, pandas / Polars series, a mapping ``{label: values}``, or a table
plus column names (``ttest(df, "value", by="group")``). Missing values (NaN, None, ±inf) are
dropped and counted in ``result.dropped``. Bad input raises a :class:`StatsInputError` (a
``UsageError``: exit code 2) that names the input and the fix:

* :class:`InsufficientDataError` - empty, all missing, or too few values for the test;
* :class:`NonNumericError` - a numeric test on text / dates (names the input and its dtype);
* :class:`ZeroVarianceError` - the statistic is undefined because the data are constant
  (e.g. a t-test where both groups are constant). No test ever returns NaN silently.

scipy is imported lazily, inside the functions; so is numpy, so ``import
datamill.analytics.stats`` stays cheap.
"""

from __future__ import annotations

# The package re-exports every name the single stats.py module had (public and the
# private helpers other modules use), so existing imports keep working.


__all__ = [
    "AdjustedPValues", "Assumption", "Comparison", "ConfidenceInterval", "EffectSize",
    "InsufficientDataError", "NonNumericError", "StatsInputError", "TestResult",
    "ZeroVarianceError", "adjust_pvalues", "anova", "bootstrap_ci", "chi2_goodness_of_fit",
    "chi2_independence", "ci_diff_means", "ci_diff_proportions", "ci_mean", "ci_proportion",
    "cohens_d", "correlation", "cramers_v", "eta_squared", "fisher_exact", "hedges_g",
    "kruskal", "lag1_autocorrelation", "mannwhitney", "omega_squared", "ttest", "ttest_1samp",
    "ttest_ind", "ttest_paired", "tukey_hsd", "wilcoxon", "ztest", "ztest_proportion",
    "ztest_proportions",
]


from datamill.analytics.stats.anova import (  # noqa: F401
    _anova_parts,
    _tukey,
    _welch_anova,
    anova,
    tukey_hsd,
)
from datamill.analytics.stats.assumptions import (  # noqa: F401
    _add,
    _assumption_notes,
    _finish,
    _independence,
    _levene,
    _magnitude,
    _normality,
    _significance,
)
from datamill.analytics.stats.contingency import (  # noqa: F401
    _contingency,
    chi2_goodness_of_fit,
    chi2_independence,
    fisher_exact,
)
from datamill.analytics.stats.corrections import (  # noqa: F401
    _METHODS,
    adjust_pvalues,
)
from datamill.analytics.stats.correlation import (  # noqa: F401
    _pairs,
    _series,
    correlation,
)
from datamill.analytics.stats.effects import (  # noqa: F401
    cohens_d,
    cramers_v,
    eta_squared,
    hedges_g,
    omega_squared,
)
from datamill.analytics.stats.inputs import (  # noqa: F401
    _check_alt,
    _check_level,
    _ci_from,
    _column,
    _Groups,
    _is_table,
    _letters,
    _mean_var,
    _note_unassigned,
    _numeric,
    _p_from,
    _Sample,
    _samples,
    lag1_autocorrelation,
)
from datamill.analytics.stats.intervals import (  # noqa: F401
    _STATS,
    _check_resamples,
    _percentile_ci,
    _resample,
    _stat_fn,
    bootstrap_ci,
    ci_diff_means,
    ci_diff_proportions,
    ci_mean,
    ci_proportion,
)
from datamill.analytics.stats.ranks import (  # noqa: F401
    kruskal,
    mannwhitney,
    wilcoxon,
)
from datamill.analytics.stats.results import (  # noqa: F401
    ALTERNATIVES,
    LARGE_N,
    SHAPIRO_MAX,
    AdjustedPValues,
    Assumption,
    Comparison,
    ConfidenceInterval,
    EffectSize,
    InsufficientDataError,
    NonNumericError,
    StatsInputError,
    TestResult,
    ZeroVarianceError,
    _fmt,
    _fmt_ci,
    _fmt_p,
    _jsonable,
    _rich_table,
)
from datamill.analytics.stats.ttests import (  # noqa: F401
    _d_magnitude_text,
    _numeric_keep,
    _paired,
    _ttest_1,
    _ttest_2,
    ttest,
    ttest_1samp,
    ttest_ind,
    ttest_paired,
)
from datamill.analytics.stats.ztests import (  # noqa: F401
    _count,
    _newcombe,
    _wilson,
    ztest,
    ztest_proportion,
    ztest_proportions,
)
