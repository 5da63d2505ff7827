"""The analytics commands as a user meets them: a file in, a table / JSON / HTML out."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

DATAMILL = [sys.executable, "-m", "datamill.cli"]


def dm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*DATAMILL, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def ab_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 20000
    v = rng.choice(["control", "treatment"], n)
    conv = (rng.random(n) < np.where(v == "control", 0.10, 0.12)).astype(int)
    day = pd.Timestamp("2026-06-01") + pd.to_timedelta(rng.integers(0, 14, n), unit="D")
    p = tmp_path / "ab.csv"
    pd.DataFrame({"variant": v, "converted": conv, "day": day}).to_csv(p, index=False)
    return p


@pytest.fixture
def traffic_csv(tmp_path: Path) -> Path:
    """The footwear store: June's extra traffic came from sandals."""
    rng = np.random.default_rng(5)
    rows = []
    for month, sandals, boots in (("2026-05", 1000, 2100), ("2026-06", 6000, 1900)):
        for kind, n in (("sandals", sandals), ("boots", boots), ("sneakers", 3000)):
            days = rng.integers(1, 29, n)
            rows.append(pd.DataFrame({"date": [f"{month}-{d:02d}" for d in days], "footwear": kind,
                                      "device": rng.choice(["mobile", "desktop"], n), "views": 1}))
    p = tmp_path / "traffic.csv"
    pd.concat(rows).to_csv(p, index=False)
    return p


def _valid_html(text: str) -> None:
    HTMLParser().feed(text)
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert "<script src" not in text and "cdn" not in text.lower()


def test_abtest_cli(ab_csv: Path, tmp_path: Path):
    r = dm("abtest", str(ab_csv), "--variant", "variant", "--outcome", "converted",
           "--control", "control", "--time", "day", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["metric"] == "conversion" and out["control"] == "control"
    comp = out["comparisons"][0]
    df = pd.read_csv(ab_csv)
    rates = df.groupby("variant")["converted"].mean()
    assert abs(comp["diff"] - (rates["treatment"] - rates["control"])) < 1e-12
    assert comp["ci_low"] < comp["diff"] < comp["ci_high"] and 0 <= comp["p_value"] <= 1
    r = dm("abtest", str(ab_csv), "--variant", "variant", "--outcome", "converted", "-o", "ab.html",
           cwd=tmp_path)
    assert r.returncode == 0 and "wrote ab.html" in r.stderr
    _valid_html((tmp_path / "ab.html").read_text())
    r = dm("abtest", str(ab_csv), "--variant", "variant", "--outcome", "converted", cwd=tmp_path)
    assert r.returncode == 0 and "treatment" in r.stdout


def test_explain_cli_names_sandals_first(traffic_csv: Path, tmp_path: Path):
    r = dm("explain", str(traffic_csv), "--metric", "views", "--time", "date", "--by",
           "footwear,device", "--compare", "2026-05", "2026-06", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    text = json.dumps(out)
    assert "sandals" in out["summary"]
    assert out["summary"].index("sandals") < out["summary"].index("boots") if "boots" in out["summary"] else True
    r = dm("explain", str(traffic_csv), "--metric", "views", "--time", "date", "--by", "footwear",
           "--compare", "2026-05", "2026-06", cwd=tmp_path)
    assert r.returncode == 0
    first_row = next(line for line in r.stdout.splitlines() if "sandals" in line or "boots" in line)
    assert "sandals" in first_row
    r = dm("explain", str(traffic_csv), "--metric", "views", "--time", "date", "--by", "footwear",
           "--compare", "2026-05", "2026-06", "-o", "why.html", cwd=tmp_path)
    assert r.returncode == 0
    _valid_html((tmp_path / "why.html").read_text())
    assert text


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--metric", "nope", "--time", "date", "--by", "footwear", "--compare", "2026-05", "2026-06"],
         "unknown column 'nope'"),
        (["--metric", "views", "--time", "date", "--by", "footwear", "--compare", "2025-01", "2026-06"],
         "2025-01"),
    ],
)
def test_explain_bad_input(traffic_csv: Path, tmp_path: Path, args, fragment):
    r = dm("explain", str(traffic_csv), *args, cwd=tmp_path)
    assert r.returncode == 2 and fragment in r.stderr and "Traceback" not in r.stderr


def test_missing_source_file(tmp_path: Path):
    r = dm("abtest", "nothere.csv", "--variant", "v", "--outcome", "o", cwd=tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr


def test_describe_cli(ab_csv: Path, tmp_path: Path):
    r = dm("describe", str(ab_csv), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {row["column"]: row for row in json.loads(r.stdout)}
    df = pd.read_csv(ab_csv)
    assert rows["converted"]["count"] == len(df)
    assert abs(rows["converted"]["mean"] - df["converted"].mean()) < 1e-9
    assert rows["variant"]["distinct"] == 2
    r = dm("describe", str(ab_csv), "--by", "variant", cwd=tmp_path)
    assert r.returncode == 0 and "control" in r.stdout and "treatment" in r.stdout


def test_profile_cli(tmp_path: Path):
    sales = Path(__file__).parents[1] / "examples" / "quickstart" / "data" / "sales_2026-09.csv"
    r = dm("profile", str(sales), "-o", "report.html", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "report.html").read_text()
    _valid_html(html)
    assert "unit_price" in html and len(html) < 5_000_000
    r = dm("profile", str(sales), "--json", "--minimal", cwd=tmp_path)
    facts = json.loads(r.stdout)
    assert facts and "unit_price" in json.dumps(facts)
    r = dm("profile", str(sales), "--target", "nope", cwd=tmp_path)
    assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr


def test_describe_reads_a_database_table(tmp_path: Path):
    import sqlite3

    con = sqlite3.connect(tmp_path / "w.db")
    con.execute("CREATE TABLE t (id INTEGER, v REAL)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, i * 0.5) for i in range(10)])
    con.commit()
    con.close()
    r = dm("describe", f"sqlite:///{tmp_path / 'w.db'}#t", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {x["column"]: x for x in json.loads(r.stdout)}
    assert rows["v"]["mean"] == 2.25 and rows["id"]["count"] == 10


def test_analytics_accept_connector_options(tmp_path: Path):
    """One location grammar: `?delimiter=;` works for describe as it does for copy."""
    (tmp_path / "semi.csv").write_text("id;amount;day\n1;2.5;2026-01-02\n2;;2026-01-03\n3;4.5;\n")
    r = dm("describe", "semi.csv?delimiter=;", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {x["column"]: x for x in json.loads(r.stdout)}
    assert set(rows) == {"id", "amount", "day"}
    assert rows["id"]["count"] == 3 and rows["id"]["mean"] == 2
    assert rows["amount"]["nulls"] == 1 and rows["amount"]["mean"] == 3.5
    assert rows["day"]["nulls"] == 1 and "datetime" in rows["day"]["dtype"].lower()
    r = dm("profile", "semi.csv?delimiter=;", "--json", "--minimal", cwd=tmp_path)
    assert r.returncode == 0, r.stderr and "amount" in r.stdout
    r = dm("copy", "semi.csv?delimiter=;", "out.parquet", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = dm("describe", "out.parquet", "--json", cwd=tmp_path)
    assert {x["column"]: x for x in json.loads(r.stdout)}["amount"]["mean"] == 3.5


def test_read_table_dtypes_through_io(tmp_path: Path):
    from datamill.analytics.source import read_table

    (tmp_path / "t.csv").write_text("i,f,s,d,n\n1,0.5,x,2026-01-02,\n2,1.5,y,2026-01-03,7\n")
    df = read_table(str(tmp_path / "t.csv"))
    assert df["i"].dtype.kind == "i" and df["f"].dtype.kind == "f"
    assert df["d"].dtype.kind == "M" and df["n"].dtype.kind == "f" and df["n"].isna().sum() == 1
    assert df["s"].dtype.kind in "OU" or str(df["s"].dtype) in ("string", "str")
    (tmp_path / "t.txt").write_text("a,b\n1,2\n")
    assert read_table(str(tmp_path / "t.txt"))["b"].tolist() == [2]


def _describe_at_80(tmp_path: Path) -> str:
    rng = np.random.default_rng(11)
    n = 5000
    pd.DataFrame({
        "customer_identifier": rng.integers(0, 10**9, n),
        "amount_in_cents": rng.normal(4e7, 1e7, n),
        "quantity": rng.integers(1, 400, n),
        "segment": rng.choice(["retail", "wholesale"], n),
    }).to_csv(tmp_path / "wide.csv", index=False)
    r = subprocess.run([*DATAMILL, "describe", "wide.csv"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300, env={**__import__("os").environ, "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_describe_is_readable_at_80_columns(tmp_path: Path):
    out = _describe_at_80(tmp_path)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    for header in ("count", "nulls", "distinct", "mean", "std", "min", "median", "max"):
        assert header in out, header
    count_line = next(line for line in out.splitlines() if "customer_identifier" in line)
    assert "5,000" in count_line  # the count column is not squeezed to nothing
    df = pd.read_csv(tmp_path / "wide.csv")
    assert f"{df['quantity'].max():,}" in out and f"{df['customer_identifier'].max():,}" in out


@given(st.lists(st.integers(1, 60), min_size=1, max_size=15), st.integers(1, 40),
       st.integers(40, 200))
def test_describe_tables_cover_every_statistic_and_fit(widths, key_width, total):
    from datamill.cli_describe import _EDGE, _PER_COLUMN, pack

    groups = pack(widths, key_width, total)
    assert [i for g in groups for i in g] == list(range(len(widths)))
    for g in groups:  # every table fits, unless one column alone is wider than the line
        need = _EDGE + key_width + sum(widths[i] + _PER_COLUMN for i in g)
        assert need <= total or len(g) == 1


@given(st.one_of(st.integers(-10**15, 10**15), st.floats(allow_nan=False, allow_infinity=False)))
def test_describe_cells_keep_their_value(v):
    from datamill.cli_describe import cell

    text = cell(v)
    assert "…" not in text and len(text) <= 25
    if isinstance(v, int) and abs(v) < 10**12:
        assert int(text.replace(",", "")) == v
    elif isinstance(v, float) and v != 0 and abs(v) < 1e300:
        assert abs(float(text.replace(",", "")) - v) <= abs(v) * 1e-3


@pytest.mark.parametrize("cmd", [["profile"], ["abtest", "--variant", "variant", "--outcome", "converted"]])
def test_report_commands_refuse_an_unknown_extension(ab_csv: Path, tmp_path: Path, cmd):
    r = dm(cmd[0], str(ab_csv), *cmd[1:], "-o", "out.pdf", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "unknown report format '.pdf'" in r.stderr
    assert not (tmp_path / "out.pdf").exists()


def test_profile_compare_cli(tmp_path: Path):
    rng = np.random.default_rng(2)
    a = pd.DataFrame({"x": rng.normal(0, 1, 3000), "k": rng.choice(["a", "b"], 3000)})
    b = pd.DataFrame({"x": rng.normal(0.8, 1, 2000), "k": rng.choice(["a", "b"], 2000),
                      "extra": 1})
    a.to_csv(tmp_path / "train.csv", index=False)
    b.to_csv(tmp_path / "test.csv", index=False)
    r = dm("profile", "compare", "train.csv", "test.csv", "-o", "diff.html", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "diff.html").read_text()
    assert "class='verdict'" in html and "Only in test.csv: extra." in html
    assert "<script" not in html and "http" not in html.split("</head>")[0]
    r = dm("profile", "compare", "train.csv", "test.csv", "--json", cwd=tmp_path)
    facts = json.loads(r.stdout)
    assert facts["columns"]["x"]["shift"] == "major" and facts["columns"]["k"]["shift"] == "stable"
    # the plain form is unchanged
    r = dm("profile", "train.csv", "--minimal", "--json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["overview"]["rows"] == 3000
