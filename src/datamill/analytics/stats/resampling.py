"""Bootstrap replicates that stay fast at large n.

Resampling n values B times draws n × B random indices: 1e10 at n = 1e6 and the default
10,000 resamples, about 80 s however well it is vectorised. For the built-in statistics the
replicates depend on the resample only through a few sums or one order statistic, so above
``DIRECT_DRAWS`` they are drawn blockwise instead: the sorted values are cut into ``BLOCKS``
equal-count blocks and the number of draws landing in each block is drawn once per resample
(a multinomial, exactly as in the plain bootstrap).

- ``median``: given the block counts, the draws inside the block holding the middle rank(s)
  are drawn exactly (uniform over that block's values) and the order statistic read off
  them, so the replicates have the plain bootstrap's distribution exactly.
- ``mean``, ``std``, ``var``: the mean of the draws inside each block (a few hundred draws
  from a narrow slice of the sorted data) is drawn from its normal approximation, with the
  block's own mean and variance; the between-block part, which dominates, stays exact. The
  variance of the replicates is that of the plain bootstrap; only the skewness of the
  within-block sums (tiny for narrow blocks) is lost.

Custom functions always take the direct path (chunked, so memory stays bounded).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DIRECT_DRAWS = 50_000_000  # n × resamples up to which every index is drawn (≈ 1 s)
CHUNK_VALUES = 4_000_000  # values per chunk of any (resamples × something) matrix
BLOCKS = 512
TAIL = 0.001  # share of the values at each end drawn exactly
BLOCKED = ("mean", "median", "std", "var")


def resample(x: Any, fn: Callable[..., Any], n_resamples: int, rng: Any,
             key: str | None = None) -> Any:
    """``n_resamples`` bootstrap replicates of ``fn`` over ``x`` (1-D float array); ``key``
    names a built-in statistic (``mean``, ``median``, ``std``, ``var``) that may take the
    blocked path at large n."""
    n = x.size
    if key in BLOCKED and n * n_resamples > DIRECT_DRAWS and n >= 64 * BLOCKS:
        return blocked(x, key, n_resamples, rng)
    return direct(x, fn, n_resamples, rng)


def method_of(n: int, n_resamples: int, key: str | None) -> str:
    """The path ``resample`` takes, for a result's details."""
    if key in BLOCKED and n * n_resamples > DIRECT_DRAWS and n >= 64 * BLOCKS:
        return "blocked"
    return "direct"


def direct(x: Any, fn: Callable[..., Any], n_resamples: int, rng: Any) -> Any:
    """Every index drawn, in chunks of ~4M values."""
    import numpy as np

    n = x.size
    out = np.empty(n_resamples)
    chunk = max(1, min(n_resamples, CHUNK_VALUES // max(n, 1)))
    for start in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - start)
        idx = rng.integers(0, n, size=(m, n), dtype=np.int32 if n < 2**31 else np.int64)
        out[start:start + m] = fn(x[idx], axis=1)
    return out


def _bounds(n: int, blocks: int) -> Any:
    """Block boundaries in the sorted values: the lowest and highest ``TAIL`` share each in
    one block (drawn exactly), the rest in ``blocks - 2`` equal-count blocks."""
    import numpy as np

    t = max(1, round(n * TAIL))
    return np.concatenate(([0], np.linspace(t, n - t, blocks - 1).round(), [n])).astype(np.int64)


def blocked(x: Any, key: str, n_resamples: int, rng: Any, blocks: int = BLOCKS) -> Any:
    """Replicates of a built-in statistic from per-block draw counts (see the module)."""
    import numpy as np

    n = x.size
    xs = np.sort(x)
    bounds = _bounds(n, blocks)
    sizes = np.diff(bounds)
    probs = sizes / n
    out = np.empty(n_resamples)
    chunk = max(1, min(n_resamples, CHUNK_VALUES // 4 // blocks))
    if key == "median":
        ranks = (n // 2,) if n % 2 else (n // 2 - 1, n // 2)
        for start in range(0, n_resamples, chunk):
            m = min(chunk, n_resamples - start)
            counts = rng.multinomial(n, probs, size=m)
            out[start:start + m] = _medians(xs, bounds, sizes, counts, ranks, rng)
        return out
    centre = float(xs.mean())
    c = xs - centre  # centred: sums of squares of raw values lose precision
    mu = np.add.reduceat(c, bounds[:-1]) / sizes
    v = np.maximum(np.add.reduceat(c * c, bounds[:-1]) / sizes - mu * mu, 0.0)
    tails = (0, blocks - 1)
    for start in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - start)
        counts = rng.multinomial(n, probs, size=m)
        cf = counts.astype(float)
        z = rng.standard_normal((m, blocks))
        safe = np.maximum(cf, 1.0)
        # per block: the sum of its draws and their sum of squares about their own mean
        sums = cf * mu + np.sqrt(cf * v) * z
        within = np.maximum(cf - 1.0, 0.0) * v
        for b in tails:  # the extreme values, whose spread a normal sum would misstate
            rows = np.repeat(np.arange(m), counts[:, b])
            vals = c[bounds[b] + rng.integers(0, sizes[b], size=rows.size)]
            s1 = np.bincount(rows, weights=vals, minlength=m)
            s2 = np.bincount(rows, weights=vals * vals, minlength=m)
            sums[:, b] = s1
            within[:, b] = np.maximum(s2 - s1 * s1 / safe[:, b], 0.0)
        mean = sums.sum(axis=1) / n
        if key == "mean":
            out[start:start + m] = mean + centre
            continue
        between = (sums * sums / safe).sum(axis=1) - n * mean * mean
        var = (within.sum(axis=1) + between) / (n - 1)
        out[start:start + m] = np.sqrt(np.maximum(var, 0.0)) if key == "std" else var
    return out


def _medians(xs: Any, bounds: Any, sizes: Any, counts: Any, ranks: tuple[int, ...],
             rng: Any) -> Any:
    """The resample median of each row of ``counts``: the draws of the block(s) holding the
    middle rank(s) drawn exactly, uniform over that block's sorted values."""
    import numpy as np

    cum = np.cumsum(counts, axis=1)
    where = [np.argmax(cum > r, axis=1) for r in ranks]  # the block holding each rank
    out = np.empty(len(counts))
    for i in range(len(counts)):
        vals = []
        drawn: dict[int, Any] = {}
        for r, w in zip(ranks, where, strict=True):
            b = int(w[i])
            if b not in drawn:
                idx = rng.integers(0, sizes[b], size=int(counts[i, b]))
                idx.sort()
                drawn[b] = idx
            k = r - (int(cum[i, b]) - int(counts[i, b]))
            vals.append(xs[bounds[b] + drawn[b][k]])
        out[i] = sum(vals) / len(vals)
    return out
