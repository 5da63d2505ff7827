"""profile: facts on a crafted frame, HTML and JSON renderings, bad inputs."""

from __future__ import annotations

import json
import math
from html import escape
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
                   "vif", "pca", "interactions", "trend"):
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


# -- issue #9: integer bins, booleans, new sections, comparison, output format --------------


def _mixed():
    from report_data import table

    return table()


def test_integer_columns_with_few_values_get_one_bin_per_integer():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"items": rng.integers(0, 6, 5000), "wide": rng.integers(0, 1000, 5000),
                       "ints_as_float": rng.integers(0, 4, 5000).astype(float)})
    cols = profile(df, minimal=True).facts["columns"]
    h = cols["items"]["histogram"]
    assert h["integer"] and h["edges"] == [-0.5, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
    assert h["counts"] == np.bincount(df["items"], minlength=6).tolist()  # no fake spikes
    w = cols["wide"]["histogram"]
    widths = np.diff(w["edges"])
    assert w["integer"] and np.all(widths == widths[0]) and widths[0] == int(widths[0])
    assert all(e % 1 == 0.5 for e in w["edges"])  # edges between integers
    assert cols["ints_as_float"]["histogram"]["edges"] == [-0.5, 0.5, 1.5, 2.5, 3.5]


def test_zero_one_columns_are_boolean_not_skewed_numbers():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"flag": (rng.random(5000) < 0.03).astype(int), "b": rng.random(5000) < 0.5,
                       "x": rng.normal(size=5000)})
    r = profile(df)
    c = r.facts["columns"]["flag"]
    assert c["kind"] == "boolean" and r.facts["columns"]["b"]["kind"] == "boolean"
    assert c["true_count"] == int(df["flag"].sum()) and c["true_share"] == pytest.approx(df["flag"].mean())
    assert not any(w.startswith("flag: heavily skewed") for w in r.warnings)
    assert "flag" not in r.facts["outliers"] and "flag" not in r.facts["skewness"]
    assert r.facts["overview"]["kinds"]["boolean"] == 2
    assert "flag" in r.facts["correlations"]["pearson"]["columns"]  # still correlated as 0/1


def test_heatmaps_carry_numbers_and_a_colour_legend():
    from datamill.analytics import charts

    svg = charts.heatmap(["a", "b"], [[1.0, -0.42], [-0.42, 1.0]], legend_label="correlation")
    assert ">-0.42</text>" in svg and "correlation</text>" in svg
    assert svg.count("<rect") >= 4 + 20  # the cells and the legend's steps
    html = profile(_mixed()).to_html()
    assert html.count("correlation</text>") >= 2


def test_datetime_distributions_by_hour_weekday_month():
    df = _mixed()
    d = profile(df, minimal=True).facts["datetimes"]["signup"]
    assert sum(d["hour"]) == sum(d["weekday"]) == sum(d["month"]) == len(df)
    assert d["hour"] == np.bincount(df["signup"].dt.hour, minlength=24).tolist()
    assert d["weekday"] == np.bincount(df["signup"].dt.day_of_week, minlength=7).tolist()
    only_dates = pd.DataFrame({"d": pd.to_datetime(["2026-01-01", "2026-02-03", "2026-02-04"])})
    assert profile(only_dates, minimal=True).facts["datetimes"]["d"]["hour"] is None


def test_text_columns_get_lengths_character_classes_and_words():
    df = _mixed()
    t = profile(df, minimal=True).facts["text"]
    assert list(t) == ["comment"]  # city is a category, not text
    c = t["comment"]
    assert sum(c["length"]["counts"]) == len(df)
    assert c["length"]["max"] == df["comment"].str.len().max()
    assert c["char_classes"]["letters"] + c["char_classes"]["spaces"] == pytest.approx(1.0)
    words = pd.Series(" ".join(df["comment"]).split()).value_counts()
    assert c["words"][0] == [words.index[0], int(words.iloc[0])]


def test_missing_patterns_show_which_columns_are_missing_together():
    df = _mixed()
    mp = profile(df, minimal=True).facts["missing_patterns"]
    cols = mp["columns"]
    both = [p for p in mp["patterns"] if p["missing"][cols.index("amount")]
            and p["missing"][cols.index("score")] and not p["missing"][cols.index("city")]]
    expect = int((df["amount"].isna() & df["score"].isna() & df["city"].notna()).sum())
    assert both and both[0]["rows"] == expect
    assert sum(p["rows"] for p in mp["patterns"]) + mp["other_rows"] == len(df)
    m = np.array(mp["nullity_correlation"]["matrix"])
    ref = np.corrcoef(df[cols].isna().to_numpy().T.astype(float))
    assert np.allclose(m, ref, atol=1e-9)
    assert m[cols.index("amount"), cols.index("score")] > 0.8


def test_interactions_are_binned_with_the_mean_of_y_per_x_bin():
    pairs = profile(_mixed()).facts["pairs"]
    top = next(p for p in pairs if {p["x"], p["y"]} == {"amount", "score"})
    assert len(top["y_means"]) == len(top["x_edges"]) - 1
    assert sum(map(sum, top["counts"])) <= top["rows"]
    finite = [m for m in top["y_means"] if m is not None]
    assert finite[-1] > finite[0]  # score rises with amount


def test_profile_refuses_an_unknown_report_extension(tmp_path):
    from datamill.errors import UsageError

    r = profile(pd.DataFrame({"x": [1, 2, 3]}), minimal=True)
    with pytest.raises(UsageError, match="unknown report format '.pdf'"):
        r.save(tmp_path / "out.pdf")
    assert not (tmp_path / "out.pdf").exists()
    assert r.save(tmp_path / "out.HTML").read_text().startswith("<!DOCTYPE html>")


def test_compare_finds_schema_differences_and_shifted_columns():
    from report_data import table

    from datamill.analytics.profile_compare import compare

    a, b = table(4000, 1), table(3000, 2)
    b["amount"] = b["amount"] * 1.6
    b.loc[:900, "city"] = "Madrid"
    b = b.drop(columns=["is_member"]).assign(new_col=1.5)
    r = compare(a, b, names=("train", "test"))
    f = r.to_dict()
    assert f["schema"]["only_in_train"] == ["is_member"] and f["schema"]["only_in_test"] == ["new_col"]
    assert f["columns"]["amount"]["shift"] in ("moderate", "major")
    assert f["columns"]["city"]["shift"] == "major"
    assert f["columns"]["price_with_a_rather_long_column_name"]["shift"] == "stable"
    assert f["columns"]["items"]["integer"]
    assert r.verdict.startswith("2 of ") and "2 schema differences" in r.verdict
    json.dumps(f, allow_nan=False)
    html = r.to_html()
    assert html.index(escape(r.verdict)) < html.index("Only in train")
    same = compare(a, table(4000, 3))
    assert same.verdict.startswith("No column's distribution shifted")
