"""Run-store migrations by hand: ``python -m datamill.store.migrations COMMAND [URL]``.

``upgrade`` brings a store to head (as ``RunStore.open`` does), ``current`` prints its
revision, ``sql`` prints the upgrade as SQL for a DBA, and ``revision -m MSG
[--autogenerate]`` starts a new migration file in ``versions/`` for a developer;
``sqlite-head`` rewrites ``sqlite_head.sql``, the head schema a new SQLite store is created
from without alembic (run it after adding a revision).
"""

from __future__ import annotations

import argparse
import sys

from datamill.store import migrations


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one migration command."""
    from alembic import command

    from datamill.store.opening import sa_engine
    from datamill.store.runstore import RunStore, resolve_url

    parser = argparse.ArgumentParser(prog="python -m datamill.store.migrations")
    parser.add_argument("command", choices=["upgrade", "current", "sql", "revision", "sqlite-head"])
    parser.add_argument(
        "url", nargs="?", help="store URL (default: $DATAMILL_STORE or ./.datamill)"
    )
    parser.add_argument("-m", "--message", default="new revision")
    parser.add_argument("--autogenerate", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "sqlite-head":
        migrations.SQLITE_HEAD.write_text(migrations.sqlite_head_sql(), encoding="utf-8")
        print(f"wrote {migrations.SQLITE_HEAD}")
        return 0
    url = resolve_url(args.url)

    if args.command == "upgrade":
        RunStore.open(url).close()
        return 0
    if args.command == "sql":
        command.upgrade(migrations.alembic_config(url=url), "head", sql=True)
        return 0
    engine = sa_engine(url)
    try:
        with engine.begin() as conn:
            cfg = migrations.alembic_config(conn, url=url)
            if args.command == "current":
                command.current(cfg)
            else:
                head = migrations.head_revision()
                rev_id = f"{int(head) + 1:04d}" if head.isdigit() else None
                command.revision(
                    cfg, message=args.message, autogenerate=args.autogenerate, rev_id=rev_id
                )
                print(f"now set SCHEMA_REVISION = {rev_id!r} in datamill/store/schema.py")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
