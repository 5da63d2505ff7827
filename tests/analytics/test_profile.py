"""profile: facts on a crafted frame, HTML and JSON renderings, bad inputs."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import polars as pl
import pytest

from datamill.analytics.profile import ProfileReport, profile
from datamill.errors import UsageError


def crafted(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 1, n)
    x = rng.normal(5, 2, n)
    df = pd.DataFrame({
        "id": np.arange(n),
        "x": x,
        "x_twin": 3 * x + rng.normal(0, 0.01, n),  # collinear with x
        "leak": y * 2 + 1 + rng.normal(0, 0.001, n),  # the target, disguised
        "skewed": rng.lognormal(0, 1.2, n),
        "const": 7,
        "sparse": np.where(rng.random(n) < 0.5, np.nan, rng.normal(0, 1, n)),
        "city": rng.choice(["a", "b", "c"], n),
        "code": [f"k{i}" for i in rng.integers(0, n, n)],
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n), unit="D"),
        "y": y,
    })
    dup = df.iloc[:3].copy()
    return pd.concat([df, dup], ignore_index=True)


@pytest.fixture(scope="module")
def report() -> ProfileReport:
    return profile(crafted(), target="y", title="crafted")


def has(warnings: list[str], *words: str) -> bool:
    return any(all(w in line for w in words) for line in warnings)


def test_overview_counts(report):
    o = report.facts["overview"]
    assert (o["rows"], o["columns"], o["duplicate_rows"]) == (403, 11, 3)
    assert o["kinds"] == {"numeric": 8, "categorical": 2, "datetime": 1}
    assert report.facts["missing"]["sparse"]["nulls"] == report.facts["columns"]["sparse"]["nulls"] > 150


def test_warnings_name_each_problem(report):
    w = report.warnings
    assert has(w, "duplicate rows")
    assert has(w, "const", "constant")
    assert has(w, "sparse", "missing")
    assert has(w, "code", "high cardinality")
    assert has(w, "skewed", "skewed")
    assert has(w, "leak", "leakage")
    assert not has(w, "x:", "leakage")
    assert has(w, "x and x_twin", "collinear")
    assert has(w, "Multicollinearity", "x_twin")


def test_id_column_flagged_unique():
    df = crafted().drop_duplicates()
    assert has(profile(df).warnings, "id", "unique")


def test_sections_present(report):
    f = report.facts
    assert set(f["correlations"]) == {"pearson", "spearman", "cramers_v"}
    p = f["correlations"]["pearson"]
    i, j = p["columns"].index("x"), p["columns"].index("x_twin")
    assert p["matrix"][i][j] > 0.99
    assert f["target"]["association"]["leak"]["value"] > 0.99
    assert next(iter(f["target"]["association"])) == "leak"
    assert f["vif"]["x"] > 100 and f["vif"]["skewed"] < 5 and "y" not in f["vif"]
    assert math.isclose(sum(f["pca"]["explained_variance_ratio"]), 1.0, rel_tol=1e-6)
    assert sum(map(sum, f["pca"]["projection"]["counts"])) > 0
    assert f["pairs"] and {f["pairs"][0]["x"], f["pairs"][0]["y"]} in ({"x", "x_twin"}, {"leak", "y"})
    assert f["trend"]["column"] == "when" and sum(f["trend"]["rows"]) == 403
    assert f["trend"]["means"]["y"]
    assert f["outliers"]["skewed"]["iqr"] > 0
    col = f["columns"]["x"]
    assert sum(col["histogram"]["counts"]) == col["count"]
    assert col["box"]["q1"] == col["q25"] and col["mean"] == pytest.approx(crafted()["x"].mean())
    assert [v for v, _ in f["columns"]["city"]["top"]] and f["columns"]["city"]["distinct"] == 3


def test_minimal_skips_the_expensive_sections():
    r = profile(crafted(), target="y", minimal=True)
    f = r.facts
    assert set(f["correlations"]) == {"pearson"}
    assert f["vif"] is None and f["pca"] is None and f["pairs"] == []
    assert has(r.warnings, "leak", "leakage")
    assert "<svg" in r.to_html()


def test_categorical_target_uses_cramers_v_and_correlation_ratio():
    df = crafted()
    df["label"] = np.where(df["y"] > 0, "pos", "neg")
    df["label_copy"] = df["label"].map({"pos": "P", "neg": "N"})
    f = profile(df.drop(columns=["leak"]), target="label").facts
    assoc = f["target"]["association"]
    assert assoc["label_copy"] == {"value": pytest.approx(1.0, abs=0.01), "method": "cramers_v"}
    assert assoc["y"]["method"] == "correlation ratio" and assoc["y"]["value"] > 0.5


class Checker(HTMLParser):
    void = {"meta", "br", "link", "img", "input", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag not in self.void:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.errors.append(f"unexpected </{tag}> with {self.stack[-3:]}")


def check_html(html: str) -> Checker:
    c = Checker()
    c.feed(html)
    c.close()
    assert not c.errors and not c.stack, (c.errors[:3], c.stack)
    assert "<script" not in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")
    return c


def test_html_is_well_formed_and_self_contained(report):
    html = report.to_html()
    c = check_html(html)
    assert c.tags["svg"] >= 15 and c.tags["section"] >= 9
    for anchor in ("warnings", "overview", "missing", "columns", "correlations", "outliers",
                   "vif", "pca", "pairs", "trend"):
        assert f"id='{anchor}'" in html


def test_json_round_trips_and_save(report, tmp_path):
    text = report.to_json()
    assert json.loads(text) == report.facts
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(report.save(tmp_path / "r.json").read_text()) == report.facts
    assert report.save(tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_rich_overview(report):
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(report)
    out = console.export_text()
    assert "403" in out and "duplicate rows" in out and "leakage" in out


def test_polars_input_and_bad_arguments():
    f = profile(pl.from_pandas(crafted())).facts
    assert f["overview"]["rows"] == 403
    with pytest.raises(UsageError, match="target"):
        profile(crafted(), target="nope")
    with pytest.raises(UsageError, match="sample"):
        profile(crafted(), sample=0)


def strict_json(r: ProfileReport) -> dict:
    return json.loads(r.to_json())  # allow_nan=False: a NaN anywhere raises


BAD = {
    "empty rows": pd.DataFrame({"x": pd.Series([], dtype=float), "s": pd.Series([], dtype=str)}),
    "no columns": pd.DataFrame(),
    "single row": pd.DataFrame({"x": [1.0], "s": ["a"], "t": [pd.Timestamp("2024-01-01")]}),
    "all null": pd.DataFrame({"x": [None] * 5, "s": [None] * 5, "k": range(5)}, dtype=object)
    .astype({"x": float}),
    "constant": pd.DataFrame({"x": [3.0] * 50, "y": [1.0] * 50, "s": ["a"] * 50}),
    "mixed": pd.DataFrame({"m": [1, "a", 2.5, None, ["l"]], "v": [1.0, 2, 3, 4, 5]}),
    "infinite": pd.DataFrame({"x": [1.0, np.inf, 3.0, -np.inf, 2.0], "y": [1.0, 2, 3, 4, 6]}),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gives_a_report_with_warnings(case):
    r = profile(BAD[case], target=None)
    facts = strict_json(r)
    check_html(r.to_html())
    assert r.warnings, case
    expected = {"empty rows": "no rows", "no columns": "no columns", "single row": "single row",
                "all null": "every value is missing", "constant": "constant",
                "mixed": "mixed value types", "infinite": None}[case]
    if expected:
        assert has(r.warnings, expected)
    assert facts["overview"]["rows"] == len(BAD[case])


@pytest.mark.slow
def test_html_size_is_bounded_on_200k_rows():
    rng = np.random.default_rng(1)
    n = 200_000
    df = pd.DataFrame({f"f{i}": rng.normal(i, 1, n) for i in range(8)})
    for j, k in enumerate((3, 300, 30_000)):
        df[f"c{j}"] = pd.array([f"v{v}" for v in rng.integers(0, k, n)], dtype="str")
    df["t"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**8, n), unit="s")
    html = profile(df, target="f0").to_html()
    check_html(html)
    assert len(html.encode()) < 5_000_000


def test_other_dtypes_are_profiled():
    import datetime as dt

    n = 120
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "b": rng.random(n) < 0.3,
        "cat": pd.Categorical(rng.choice(["x", "y", "z"], n)),
        "tz": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Paris"),
        "d": [dt.date(2020, 1, 1) + dt.timedelta(days=int(i)) for i in rng.integers(0, 900, n)],
        "dur": pd.to_timedelta(rng.integers(0, 100, n), unit="s"),
        "v": rng.normal(size=n),
    })
    lists = pl.from_pandas(df).with_columns(pl.Series("l", [[i, i + 1] for i in range(n)]))
    for data, target in ((df, "cat"), (df, "b"), (lists, "v")):
        r = profile(data, target=target)
        facts = strict_json(r)
        check_html(r.to_html())
        assert facts["trend"]["column"] == "tz"
        assert facts["columns"]["dur"]["kind"] == "numeric"
        assert facts["columns"]["b"]["distinct"] == 2
