"""Alembic migrations of the run store, configured in code (no alembic.ini at run time).

``RunStore.open`` calls ``upgrade`` only when the database is behind; importing this
module does not import alembic, only calling its functions does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

SCRIPT_LOCATION = Path(__file__).resolve().parent


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An alembic Config for the run store: scripts from this package, bound to a connection."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("path_separator", "os")
    # Files named 0002_add_experiments.py sort in chain order in the folder.
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision shipped in ``versions/``."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts found"
    return head


def known_revisions() -> set[str]:
    """Every revision id shipped in ``versions/``."""
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database behind ``connection`` inside the caller's transaction."""
    from alembic import command

    command.upgrade(alembic_config(connection), revision)
