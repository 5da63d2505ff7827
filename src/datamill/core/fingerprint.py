"""Fingerprints (cache keys) of task instances and keys of mapped items.

fingerprint = hash(normalised task code, output-relevant options, parameter values,
data versions of inputs, map item key). Normalised code is the AST of the function
without decorators, docstring, comments or formatting, so reformatting does not
invalidate caches but any change of logic does.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import textwrap
from collections.abc import Callable, Iterable
from typing import Any

_code_cache: dict[Any, str] = {}


def _hash(*parts: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def code_fingerprint(fn: Callable[..., Any]) -> str:
    """Hash of a function's normalised source (decorators, docstring, comments ignored)."""
    code = getattr(fn, "__code__", None)
    cache_key = code if code is not None else fn
    hit = _code_cache.get(cache_key)
    if hit is not None:
        return hit
    try:
        src = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(src)
        node = tree.body[0]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.decorator_list = []
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant
            ) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        try:
            text = ast.dump(node, annotate_fields=False, include_attributes=False)
        except RecursionError:
            # Deeply nested code (a generated 1,000-term expression) overflows the
            # recursive dump; the iterative walk gives an equally precise text.
            text = "iter:" + _dump_iterative(node)
    except (OSError, TypeError, SyntaxError, IndexError, RecursionError):
        # No source (REPL, lambda in exec): fall back to the bytecode and constants.
        if code is None:
            text = repr(fn)
        else:
            text = code.co_code.hex() + repr(code.co_consts) + repr(code.co_names)
    fp = _hash(text)
    _code_cache[cache_key] = fp
    return fp


def _dump_iterative(root: ast.AST) -> str:
    """A text of an AST, like ``ast.dump`` without attributes, walked with an explicit stack.

    Two trees give the same text exactly when ``ast.dump`` would; the recursion limit
    never applies, whatever the nesting depth.
    """
    out: list[str] = []
    # Stack of pending items: an AST node, a list, or a literal text to emit.
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, _Literal):
            out.append(item.text)
        elif isinstance(item, ast.AST):
            out.append(type(item).__name__)
            parts: list[Any] = [_OPEN]
            for i, name in enumerate(item._fields):
                if i:
                    parts.append(_COMMA)
                parts.append(getattr(item, name, None))
            parts.append(_CLOSE)
            stack.extend(reversed(parts))
        elif isinstance(item, list):
            parts = [_LOPEN]
            for i, v in enumerate(item):
                if i:
                    parts.append(_COMMA)
                parts.append(v)
            parts.append(_LCLOSE)
            stack.extend(reversed(parts))
        else:
            out.append(repr(item))
    return "".join(out)


class _Literal:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_OPEN, _CLOSE, _LOPEN, _LCLOSE, _COMMA = (_Literal(t) for t in ("(", ")", "[", "]", ","))


def task_fingerprint(
    code_fp: str,
    options: str,
    params: Iterable[tuple[str, str]],
    inputs: Iterable[tuple[str, str]],
    map_key: str | None = None,
    source_version: str | None = None,
) -> str:
    """Combine the parts of a cache key. ``params`` hold canonical JSON of non-secret values."""
    # Length-prefixed framing: no value can forge a separator and pass for two parameters
    # (cheaper than JSON on the per-task hot path).
    p = "".join(f"{len(k)}:{k}{len(v)}:{v}" for k, v in sorted(params))
    i = "".join(f"{len(k)}:{k}{len(v)}:{v}" for k, v in sorted(inputs))
    return _hash(code_fp, options, p, i, map_key or "", source_version or "")


def item_key(item: Any) -> str:
    """A stable short key for a mapped item: a new item adds an instance, others keep theirs."""
    return content_hash(item)[:12]


def content_hash(value: Any) -> str:
    """A hash of a value's content (never of its ``repr``, which pandas and numpy shorten).

    JSON-like values hash their canonical JSON; tables and arrays their data; anything
    else its pickle.
    """
    h = hashlib.blake2b(digest_size=16)
    try:
        h.update(b"j" + json.dumps(_strict_json(value), sort_keys=True,
                                   separators=(",", ":")).encode("utf-8", "surrogatepass"))
        return h.hexdigest()
    except TypeError:
        pass
    mod = type(value).__module__.split(".")[0]
    if mod == "pandas" and hasattr(value, "to_numpy"):
        import pandas as pd

        h.update(b"p" + repr((type(value).__name__, getattr(value, "shape", None))).encode())
        if isinstance(value, pd.DataFrame):
            h.update(repr([(str(c), str(t)) for c, t in value.dtypes.items()]).encode())
        h.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        return h.hexdigest()
    if mod == "numpy" and hasattr(value, "tobytes"):
        h.update(b"n" + repr((value.dtype.str, value.shape)).encode())
        h.update(value.tobytes() if value.dtype != object else repr(value.tolist()).encode())
        return h.hexdigest()
    if mod in ("pyarrow", "polars"):
        import pyarrow as pa

        table = value.to_arrow() if mod == "polars" else value
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write(table)
        h.update(b"a" + sink.getvalue().to_pybytes())
        return h.hexdigest()
    import pickle

    try:
        h.update(b"k" + pickle.dumps(value, protocol=5))
    except Exception:  # noqa: BLE001 - unpicklable: fall back to identity-free text
        h.update(b"r" + repr(value).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _strict_json(value: Any) -> Any:
    """Like ``to_jsonable`` but refusing (TypeError) anything it would only ``repr``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value) if value != value or value in (float("inf"), float("-inf")) else value
    if isinstance(value, list | tuple):
        return [type(value).__name__] + [_strict_json(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": sorted(([_strict_json(k), _strict_json(v)] for k, v in value.items()),
                                   key=repr)}
    import datetime as dt
    import enum
    from decimal import Decimal
    from pathlib import PurePath

    if isinstance(value, dt.datetime | dt.date | dt.time):
        return [type(value).__name__, value.isoformat()]
    if isinstance(value, dt.timedelta):
        return ["timedelta", value.total_seconds()]
    if isinstance(value, PurePath | Decimal):
        return [type(value).__name__, str(value)]
    if isinstance(value, enum.Enum):
        return [type(value).__qualname__, value.name]
    raise TypeError(type(value).__name__)


def item_keys(items: list[Any]) -> list[str]:
    """Keys for a list of items; repeated items get ``-1``, ``-2``... suffixes in order."""
    seen: dict[str, int] = {}
    out = []
    for it in items:
        k = item_key(it)
        n = seen.get(k, 0)
        seen[k] = n + 1
        out.append(k if n == 0 else f"{k}-{n}")
    return out
