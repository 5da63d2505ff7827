"""Alembic environment of the run store: runs on the connection RunStore hands it."""

from __future__ import annotations

from alembic import context

from datamill.store.schema import metadata

config = context.config


def _include_object(obj, name, type_, reflected, compare_to) -> bool:
    # Tables another tool created in the same database are not ours to drop.
    return not (type_ == "table" and reflected and compare_to is None)


def run_offline() -> None:
    """Write the upgrade as SQL (``python -m datamill.store.migrations sql URL``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate on the connection passed in ``config.attributes['connection']``."""
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "the run store migrations need a connection; use RunStore.open(url) or "
            "`python -m datamill.store.migrations upgrade URL`"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=_include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
