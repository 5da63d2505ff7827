"""Hiding secrets in text: URL passwords and secret values in the forms they travel in.

A secret can reach a log line or a recorded dataset name raw, URL-encoded (a password in a
URL, a token in a query string) or base64-encoded (an ``Authorization: Basic`` header, a
token embedded in a config blob). :func:`redact` replaces each of these forms by ``***``;
:func:`redact_url` hides the password of a URL. Pure functions, no I/O: every layer may
use them (the run context masks lineage with them, task logs and errors are redacted with
them, ``io`` hides passwords in what it displays).
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "redact", "redact_deep", "redact_url", "secret_forms"]

MASK = "***"
MIN_SECRET_LEN = 3  # shorter values would mask ordinary text everywhere
_MIN_FRAGMENT = 8  # a base64 run taken from inside a longer encoding must be this long

_PW = re.compile(r"(?P<pre>://[^:/@]+:)(?P<pw>[^@]*)(?P<at>@)")


def redact_url(url: str, drop_user: bool = False) -> str:
    """Hide a URL's password (``postgresql://u:***@h/db``)."""
    return _PW.sub(lambda m: m.group("pre") + MASK + m.group("at"), url)


def _b64_forms(data: bytes) -> set[str]:
    forms: set[str] = set()
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        full = enc(data).decode("ascii")
        forms |= {full, full.rstrip("=")}
        # inside a longer encoding (``user:secret`` in a Basic header) the secret's bytes
        # start at offset 0, 1 or 2 of a 3-byte group: the characters that depend on the
        # secret alone are the same whatever surrounds it
        for shift, start in ((0, 0), (1, 2), (2, 3)):
            whole = enc(b"\0" * shift + data).decode("ascii")
            core = whole[start:((shift + len(data)) * 8) // 6]
            if len(core) >= _MIN_FRAGMENT:
                forms.add(core)
    return forms


def secret_forms(secret: str) -> set[str]:
    """The raw, URL-encoded (``quote`` and ``quote_plus``) and base64 (standard and
    URL-safe, with and without padding, and as a run inside a longer encoding) forms."""
    if not secret or len(secret) < MIN_SECRET_LEN:
        return set()
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret),
             quote_plus(secret, safe="")}
    forms |= _b64_forms(secret.encode("utf-8"))
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


@functools.lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    forms: set[str] = set()
    for s in secrets:
        forms |= secret_forms(s)
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every form of each secret value in ``text`` by ``***``."""
    pat = _pattern(tuple(dict.fromkeys(str(s) for s in secrets if s)))
    return text if pat is None or not text else pat.sub(MASK, text)


def redact_deep(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` with :func:`redact` and :func:`redact_url` applied to every string in it
    (dict keys and values, list items): for schemas and labels before they are recorded."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact_url(redact(value, secrets))
    if isinstance(value, dict):
        return {redact_deep(k, secrets): redact_deep(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_deep(v, secrets) for v in value)
    return value
