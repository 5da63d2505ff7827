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

from datamill.core.params import to_jsonable

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
        text = ast.dump(node, annotate_fields=False, include_attributes=False)
    except (OSError, TypeError, SyntaxError, IndexError):
        # No source (REPL, lambda in exec): fall back to the bytecode and constants.
        if code is None:
            text = repr(fn)
        else:
            text = code.co_code.hex() + repr(code.co_consts) + repr(code.co_names)
    fp = _hash(text)
    _code_cache[cache_key] = fp
    return fp


def task_fingerprint(
    code_fp: str,
    options: str,
    params: Iterable[tuple[str, str]],
    inputs: Iterable[tuple[str, str]],
    map_key: str | None = None,
    source_version: str | None = None,
) -> str:
    """Combine the parts of a cache key. ``params`` hold canonical JSON of non-secret values."""
    p = ";".join(f"{k}={v}" for k, v in sorted(params))
    i = ";".join(f"{k}={v}" for k, v in sorted(inputs))
    return _hash(code_fp, options, p, i, map_key or "", source_version or "")


def item_key(item: Any) -> str:
    """A stable short key for a mapped item: a new item adds an instance, others keep theirs."""
    try:
        text = json.dumps(to_jsonable(item), sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(item)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


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
