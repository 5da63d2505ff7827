"""The one place secrets are read: ``env:VAR`` / ``file:PATH`` references and the
``<name>_env`` / ``<name>_file`` convention of connections and connectors.

Core only marks values as secret references (``core.params.SecretRef``); reading the
environment or a file happens here, so every reader gives the same errors. A file's
content is stripped of surrounding whitespace (a trailing newline is never part of a
secret). A leaf module (standard library and ``errors`` only, like ``_killpoint``) so that
both the runtime (parameters, ``ctx.secret``) and ``io`` (named connections) use it
without ``io`` importing the runtime.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from datamill.errors import ParameterError, UsageError

__all__ = ["from_env", "from_file", "from_options", "resolve_param"]


def from_env(var: str, what: str, error: type[Exception] = UsageError) -> str:
    """The value of environment variable ``var``; ``error`` naming ``what`` needs it."""
    if not var:
        raise error(f"{what} refers to an environment variable but names none (use env:NAME)")
    value = os.environ.get(var)
    if value is None:
        raise error(f"{what} refers to environment variable {var!r}, which is not set")
    return value


def from_file(path: str | os.PathLike[str], what: str, error: type[Exception] = UsageError) -> str:
    """The stripped content of the file at ``path``; ``error`` naming ``what`` if unreadable."""
    p = Path(path).expanduser()
    try:
        return p.read_text().strip()
    except OSError as exc:
        raise error(f"{what}: cannot read file {str(p)!r} ({exc.strerror or exc})") from None


def resolve_param(ref: Any, name: str) -> str:
    """The value of a secret parameter given (or defaulting to) ``env:VAR`` / ``file:PATH``
    (``ref``: a ``core.params.SecretRef``, with ``scheme`` and ``target``)."""
    what = f"secret parameter {name!r}"
    if ref.scheme == "env":
        return from_env(ref.target, what, ParameterError)
    return from_file(ref.target, what, ParameterError)


def from_options(opts: dict[str, Any], name: str, what: str) -> str | None:
    """A secret given directly (``opts[name]``), by environment variable
    (``opts[name + "_env"]``) or by file (``opts[name + "_file"]``); None when none is set."""
    env, file = opts.get(f"{name}_env"), opts.get(f"{name}_file")
    if env:
        return from_env(str(env), f"{what} ({name}_env)")
    if file:
        return from_file(str(file), f"{what} ({name}_file)")
    value = opts.get(name)
    return None if value in (None, "") else str(value)
