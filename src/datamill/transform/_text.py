"""Text cleaning and tokenisation, column-wise in Polars.

``clean_text`` lower-cases, Unicode-normalises, strips punctuation and symbols and
collapses whitespace; ``tokenize`` adds a list column of tokens, optionally without
stopwords and with n-grams (``"new york"``), ready for counting or hashing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from datamill.errors import UsageError
from datamill.transform._clean import NORMAL_FORMS
from datamill.transform._frame import as_list, back, check_columns, not_reserved, to_polars

#: A short English stopword list (articles, pronouns, auxiliaries, prepositions, conjunctions).
ENGLISH_STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its
itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
""".split())


def _text_expr(x: pl.Expr, *, lower: bool, strip_punctuation: bool, unicode: str | None,
               strip_accents: bool, collapse_whitespace: bool) -> pl.Expr:
    if unicode is not None:
        if unicode.upper() not in NORMAL_FORMS:
            raise UsageError(f"unicode must be one of {', '.join(NORMAL_FORMS)} or None, got {unicode!r}")
        x = x.str.normalize(unicode.upper())  # type: ignore[arg-type]
    if strip_accents:
        x = x.str.normalize("NFKD").str.replace_all(r"\p{Mn}+", "").str.normalize("NFC")
    if lower:
        x = x.str.to_lowercase()
    if strip_punctuation:
        # an apostrophe inside a word joins it ("don't" -> "dont"); other punctuation splits
        x = x.str.replace_all(r"(\w)['’](\w)", "${1}${2}")
        x = x.str.replace_all(r"[\p{P}\p{S}]+", " ")
    if collapse_whitespace:
        x = x.str.replace_all(r"\s+", " ").str.strip_chars()
    return x


def clean_text(table: Any, columns: str | list[str], *, lower: bool = True,
               strip_punctuation: bool = True, unicode: str | None = "NFKC",
               strip_accents: bool = False, collapse_whitespace: bool = True,
               suffix: str | None = None) -> Any:
    """Clean text columns in place (or into ``<col><suffix>`` when ``suffix`` is given).

    Order: Unicode normal form (NFKC folds full-width letters, ligatures, non-breaking
    spaces), optional accent stripping (``café`` → ``cafe``), lower case, punctuation and
    symbols to spaces, whitespace collapsed and trimmed.
    """
    df, kind = to_polars(table)
    cols = as_list(columns)
    _check_text(df, cols, "clean_text")
    names = [c if suffix is None else f"{c}{suffix}" for c in cols]
    if suffix is not None:
        not_reserved(df, names, "clean_text")
    exprs = [_text_expr(pl.col(c), lower=lower, strip_punctuation=strip_punctuation,
                        unicode=unicode, strip_accents=strip_accents,
                        collapse_whitespace=collapse_whitespace).alias(n)
             for c, n in zip(cols, names, strict=True)]
    return back(df.with_columns(exprs), kind)


def _check_text(df: pl.DataFrame, cols: list[str], where: str) -> None:
    if not cols:
        raise UsageError(f"{where}: name the text columns")
    check_columns(df, cols, where)
    for c in cols:
        if df.schema[c] != pl.String:
            raise UsageError(f"{where}: column {c!r} is {df.schema[c]}, not text")


_R = "__dm_row__"
_T = "__dm_tok__"


def tokenize(table: Any, column: str, *, output: str | None = None, lower: bool = True,
             strip_punctuation: bool = True, unicode: str | None = "NFKC",
             strip_accents: bool = False, stopwords: str | Iterable[str] | None = None,
             ngrams: int | tuple[int, int] = 1, min_length: int = 1) -> Any:
    """Add ``output`` (default ``<column>_tokens``): the list of tokens of each text.

    Tokens are the whitespace-separated words after ``clean_text``-style cleaning, shorter
    ones than ``min_length`` dropped. ``stopwords="english"`` (or any set of words) drops
    stopwords before n-grams are built. ``ngrams=2`` gives word pairs (``"new york"``),
    ``ngrams=(1, 2)`` single words followed by pairs. Null text gives null.
    """
    df, kind = to_polars(table)
    _check_text(df, [column], "tokenize")
    out_name = output or f"{column}_tokens"
    not_reserved(df, [out_name], "tokenize")
    lo, hi = (ngrams, ngrams) if isinstance(ngrams, int) else tuple(ngrams)
    if not 1 <= lo <= hi:
        raise UsageError(f"tokenize: ngrams must be n >= 1 or (low, high) with 1 <= low <= high, "
                         f"got {ngrams!r}")
    if stopwords == "english":
        stop: frozenset[str] | None = ENGLISH_STOPWORDS
    elif isinstance(stopwords, str):
        raise UsageError(f"tokenize: stopwords must be 'english' or a collection of words, got {stopwords!r}")
    else:
        stop = frozenset(stopwords) if stopwords is not None else None
    cleaned = _text_expr(pl.col(column), lower=lower, strip_punctuation=strip_punctuation,
                         unicode=unicode, strip_accents=strip_accents, collapse_whitespace=True)
    toks = cleaned.str.extract_all(r"\S+")
    keep = pl.element().str.len_chars() >= min_length
    if stop:
        keep = keep & ~pl.element().is_in(list(stop))
    toks = toks.list.eval(pl.element().filter(keep))
    if lo == hi == 1:
        return back(df.with_columns(toks.alias(out_name)), kind)
    base = df.select(toks.alias(_T)).with_row_index(_R)
    long = base.explode(_T).filter(pl.col(_T).is_not_null())
    parts = []
    for n in range(lo, hi + 1):
        if n == 1:
            g = long
        else:
            g = long.with_columns(pl.concat_str(
                [pl.col(_T)] + [pl.col(_T).shift(-i).over(_R) for i in range(1, n)],
                separator=" ").alias(_T)).filter(pl.col(_T).is_not_null())
        parts.append(g.group_by(_R, maintain_order=True).agg(pl.col(_T).alias(f"n{n}")))
    lists = base.select(_R, pl.col(_T).is_null().alias("__null__"))
    for p in parts:
        lists = lists.join(p, on=_R, how="left", maintain_order="left")
    cols = [f"n{n}" for n in range(lo, hi + 1)]
    lists = lists.with_columns([pl.col(c).fill_null(pl.lit([], pl.List(pl.String))) for c in cols])
    result = lists.select(pl.when(pl.col("__null__")).then(None)
                          .otherwise(pl.concat_list(cols)).alias(out_name))
    return back(df.with_columns(result[out_name]), kind)


__all__ = ["ENGLISH_STOPWORDS", "clean_text", "tokenize"]
