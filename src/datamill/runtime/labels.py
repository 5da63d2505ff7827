"""Readable labels for mapped task instances: ``orders[56540c5ca66f] (jan.csv)``.

The key stays the hash of the item (stable, unique); the label is for people: the file
name of a path, the value of a short scalar, the first short scalar values of a mapping or
tuple, truncated to ``MAX`` characters. None when nothing short and readable is there.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import re
from typing import Any

MAX = 40
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _clip(text: str) -> str | None:
    text = _CONTROL.sub(" ", text).strip()
    if not text:
        return None
    return text if len(text) <= MAX else text[: MAX - 1] + "…"


def _looks_like_path(text: str) -> bool:
    return "/" in text or (os.sep != "/" and os.sep in text)


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float | decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        return None
    if isinstance(value, str):
        if _looks_like_path(value):
            base = value.rstrip("/\\").rsplit("/", 1)[-1]
            if os.sep != "/":
                base = base.rsplit(os.sep, 1)[-1]
            base = base.split("?", 1)[0]
            return base or value
        return value
    return None


def item_label(item: Any) -> str | None:
    """A short readable label of a mapped item, or None."""
    try:
        s = _scalar(item)
        if s is not None:
            return _clip(s)
        if isinstance(item, dict):
            parts = [_scalar(v) for v in list(item.values())[:3]]
        elif isinstance(item, tuple | list):
            parts = [_scalar(v) for v in item[:3]]
        else:
            return None
        shown = [p for p in parts if p is not None]
        return _clip(", ".join(shown)) if shown else None
    except Exception:  # noqa: BLE001 - a label is never worth a failure
        return None


def shown(key: str, label: str | None) -> str:
    """How a task instance is named to people: its key, with its label beside it."""
    return f"{key} ({label})" if label else key
