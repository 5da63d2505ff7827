"""A small mixed table for the report tests: lognormal amounts with planted joint missingness,
an integer count with few values, a 0/1 flag, a Boolean, timestamps, free text, a category."""

from __future__ import annotations

import numpy as np
import pandas as pd


def table(n: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = "the quick brown fox jumps over lazy dog data pipeline report profile customer order late refund great service".split()
    df = pd.DataFrame({
        "amount": rng.lognormal(3, 1, n),
        "price_with_a_rather_long_column_name": rng.normal(100, 15, n),
        "items": rng.integers(0, 6, n),
        "churned": (rng.random(n) < 0.1).astype(int),
        "is_member": rng.random(n) < 0.4,
        "signup": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 86400 * 300, n), unit="s"),
        "comment": [" ".join(rng.choice(words, rng.integers(2, 12))) for _ in range(n)],
        "city": rng.choice(["Berlin", "Paris", "Lisbon", "Rome", "Oslo"], n),
    })
    df["score"] = df["amount"] * 0.5 + rng.normal(0, 5, n)
    miss = rng.random(n) < 0.15
    df.loc[miss, "amount"] = np.nan
    df.loc[miss & (rng.random(n) < 0.8), "score"] = np.nan
    df.loc[rng.random(n) < 0.05, "city"] = None
    return df
