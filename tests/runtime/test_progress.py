"""The progress displays: an interrupted run never claims to be done."""

from __future__ import annotations

import io

from datamill.runtime.progress import PlainProgress, RichProgress
from datamill.store.records import State


def _render(p: RichProgress) -> str:
    from rich.console import Console

    con = Console(file=io.StringIO(), width=160, color_system=None)
    con.print(p)
    return con.file.getvalue()


def test_rich_progress_after_ctrl_c_is_not_100_percent():
    from rich.console import Console

    p = RichProgress(console=Console(file=io.StringIO(), width=160))
    p.total = 4
    p.task_finished("a", State.SUCCEEDED, 0.1)
    p.task_finished("b[1f2e] (jan.csv)", State.SUCCEEDED, 0.1)
    for k in ("c", "d"):
        p.task_finished(k, State.CANCELLED, 0.0)
    text = _render(p)
    assert "2/4 done" in text and "2 cancelled" in text
    assert "100%" not in text and "4/4" not in text
    assert "(jan.csv)" in text


def test_plain_progress_does_not_count_cancelled_as_done():
    out = io.StringIO()
    p = PlainProgress(stream=out)
    p.start("r", "p", 3)
    p.task_finished("a", State.SUCCEEDED, 0.1)
    p.task_finished("b", State.CANCELLED, 0.0)
    p.task_finished("c", State.CANCELLED, 0.0)
    assert "progress=1/3" in out.getvalue().splitlines()[-1]


def test_item_labels():
    import datetime as dt
    from pathlib import PurePosixPath

    from hypothesis import given
    from hypothesis import strategies as st

    from datamill.runtime.labels import MAX, item_label

    assert item_label("/data/in/jan.csv") == "jan.csv"
    assert item_label("s3://bucket/orders/2024-05.parquet?x=1") == "2024-05.parquet"
    assert item_label(PurePosixPath("/a/b/feb.csv")) == "feb.csv"
    assert item_label(42) == "42" and item_label(dt.date(2024, 5, 1)) == "2024-05-01"
    assert item_label({"region": "eu", "month": 5}) == "eu, 5"
    assert item_label(object()) is None and item_label(b"raw") is None
    assert item_label("x" * 100) == "x" * (MAX - 1) + "…"

    @given(st.one_of(st.text(), st.integers(), st.floats(), st.lists(st.text()),
                     st.dictionaries(st.text(), st.text())))
    def check(item):
        label = item_label(item)
        assert label is None or (0 < len(label) <= MAX and not any(
            ord(c) < 32 or ord(c) == 127 for c in label))

    check()
