"""The reports as a person sees them: rendered in headless Chromium (Debian's package,
driven by Playwright with ``executable_path``; never a downloaded browser). Each report must
load without a console error or an outside request, and no chart label may be cut off at
the edge of its chart, nor any card or heading stick out of its section. Full-page
screenshots are kept under ``build/report-screenshots/`` (git-ignored) for a person to look
at. Skipped only when Chromium is missing outside CI; in CI (.ci/run installs it) it runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser_check import check_page
from report_data import table

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(__file__).resolve().parents[2] / "build" / "report-screenshots"

if not CHROMIUM:
    if os.environ.get("CI"):
        raise RuntimeError("chromium is missing in CI: .ci/run installs it (APT_PACKAGES)")
    pytest.skip("headless Chromium (Debian package 'chromium') is not installed",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _ab() -> object:
    from datamill.analytics.abtest import abtest

    rng = np.random.default_rng(8)  # B's p-value dips below alpha, then ends above it
    n = 4000
    df = pd.DataFrame({"arm": rng.choice(["control", "B"], n), "y": rng.random(n) < 0.1,
                       "day": pd.Timestamp("2026-03-01")
                       + pd.to_timedelta(rng.integers(0, 14, n), unit="D")})
    return abtest(df, "arm", "y", time="day")


def _explain() -> object:
    from datamill.analytics.explain import explain

    rng = np.random.default_rng(0)
    n = 40_000
    df = pd.DataFrame({"t": pd.Timestamp("2026-05-01") + pd.to_timedelta(rng.integers(0, 61, n), unit="D"),
                       "device": rng.choice(["desktop", "mobile",
                                             "tablet with a rather long segment name"], n),
                       "visits": rng.integers(50, 100, n)})
    rate = np.where(df["device"] == "mobile", 0.0002, 0.0003) * np.where(df["t"] >= "2026-06-01", 1.5, 1)
    df["orders"] = rng.binomial(df["visits"], rate)
    return explain(df, "orders/visits", "t", "device", ("2026-05", "2026-06"))


def _profile() -> object:
    from datamill.analytics.profile import profile

    return profile(table(), target="churned", title="mixed table")


def _compare() -> object:
    from datamill.analytics.profile_compare import compare

    a, b = table(4000, 1), table(3000, 2)
    b["amount"] = b["amount"] * 1.6
    b.loc[:900, "city"] = "Madrid"
    return compare(a, b.drop(columns=["is_member"]), names=("train", "test"))


@pytest.mark.parametrize("name", ["profile", "compare", "abtest", "explain"])
def test_report_renders_cleanly_in_chromium(browser, name, tmp_path):
    report = {"profile": _profile, "compare": _compare, "abtest": _ab, "explain": _explain}[name]()
    html = tmp_path / f"{name}.html"
    html.write_text(report.to_html(), encoding="utf-8")
    SHOTS.mkdir(parents=True, exist_ok=True)
    res = check_page(browser, html, SHOTS / f"{name}.png")
    assert res["errors"] == []
    assert res["requests"] == []  # self-contained: no CDN, no font or image fetched
    assert res["overflow"] == [], res["overflow"][:5]
    assert (SHOTS / f"{name}.png").stat().st_size > 10_000
