"""The shape every checkpoint serializer has, and how they name the types they take.

Kept apart from the registry (``serializers``) so the codec modules (``tagged_json``,
``table_formats``) can share it without importing each other or the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

FIX = (
    "return a DataFrame/Arrow table/JSON-able value, or set `serializer='pickle'` on the task "
    "to allow pickle for trusted project-local checkpoints, or `checkpoint=False`"
)


@dataclass(frozen=True, slots=True)
class Serializer:
    """How one kind of value is written and read back.

    ``types`` are exact type keys (see :func:`type_key`, e.g. ``"pandas.DataFrame"``) this
    serializer is chosen for; ``accepts`` is an optional extra predicate on the type.
    ``opt_in`` serializers are used only when asked for by tag. ``dumps``, when set, is an
    in-memory shortcut (value -> bytes) the store prefers for small values.

    Tables also set ``to_table`` (value -> an immutable Arrow table, taken in the task's
    thread: a snapshot a background write can encode later) and ``from_table``; the store
    then writes the snapshot in the task's checkpoint format (``table_formats``) and
    ``dump``/``load`` are the Parquet path kept for direct callers.
    """

    tag: str
    ext: str
    dump: Callable[[Any, BinaryIO], int | None]
    load: Callable[[bytes], Any]
    types: tuple[str, ...] = ()
    accepts: Callable[[type], bool] | None = None
    opt_in: bool = False
    dumps: Callable[[Any], bytes] | None = None
    to_table: Callable[[Any], Any] | None = None
    from_table: Callable[[Any], Any] | None = None

    @property
    def exts(self) -> tuple[str, ...]:
        """Every data file extension a checkpoint of this tag may have."""
        if self.to_table is not None:
            from datamill.store.table_formats import EXTS

            return EXTS
        return (self.ext,)


def type_key(cls: type) -> str:
    """``"<top-level package>.<qualname>"``: how serializers name the types they take."""
    return f"{cls.__module__.partition('.')[0]}.{cls.__qualname__}"


def type_name(cls: type) -> str:
    mod = cls.__module__
    return cls.__qualname__ if mod == "builtins" else f"{mod}.{cls.__qualname__}"


def mro_keys(cls: type) -> set[str]:
    return {type_key(c) for c in cls.__mro__}
