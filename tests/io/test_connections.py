"""Named connections from datamill.toml, with profiles and secrets from env or file."""

from __future__ import annotations

import pytest

from datamill.errors import UsageError
from datamill.io.connections import resolve
from datamill.io.url import parse_url

CONFIG = {
    "connections": {
        "warehouse": {"url": "postgresql://etl@db.internal:5432/shop", "password_env": "WH_PW",
                      "options": {"batch_size": "500"}},
        "lake": {"url": "s3://bucket/lake"},
    },
    "profiles": {"dev": {"connections": {"warehouse": {"url": "sqlite:///dev.db",
                                                       "password_env": None}}}},
}


def test_named_connection_with_password_from_env(monkeypatch):
    monkeypatch.setenv("WH_PW", "p@ss/word")
    url, opts = resolve("warehouse#public.orders", CONFIG)
    assert url == "postgresql://etl:p%40ss%2Fword@db.internal:5432/shop#public.orders"
    assert opts == {"batch_size": "500"}
    loc = parse_url(url)
    assert loc.table == "orders" and loc.schema == "public"
    assert "p%40ss" not in loc.display and "***" in loc.display


def test_profile_overrides(monkeypatch):
    monkeypatch.delenv("WH_PW", raising=False)
    url, _ = resolve("warehouse#orders", CONFIG, profile="dev")
    assert url == "sqlite:///dev.db#orders"
    monkeypatch.setenv("DATAMILL_PROFILE", "dev")
    assert resolve("warehouse#orders", CONFIG)[0] == "sqlite:///dev.db#orders"
    with pytest.raises(UsageError, match="profile 'prod' is not in datamill.toml"):
        resolve("warehouse", CONFIG, profile="prod")


def test_missing_secret_and_plain_paths(monkeypatch, tmp_path):
    monkeypatch.delenv("WH_PW", raising=False)
    monkeypatch.delenv("DATAMILL_PROFILE", raising=False)
    with pytest.raises(UsageError, match="WH_PW"):
        resolve("warehouse#orders", CONFIG)
    assert resolve("data/orders.csv", CONFIG) == ("data/orders.csv", {})
    assert resolve("orders.csv", CONFIG) == ("orders.csv", {})
    assert resolve("unknown_name", CONFIG) == ("unknown_name", {})
    f = tmp_path / "pw"
    f.write_text("from-file\n")
    cfg = {"connections": {"db": {"url": "mysql+pymysql://root@127.0.0.1/test",
                                  "password_file": str(f)}}}
    assert resolve("db#t", cfg)[0] == "mysql+pymysql://root:from-file@127.0.0.1/test#t"


def test_url_grammar():
    loc = parse_url("postgresql+psycopg://u:secret@h:5432/db#public.orders")
    assert (loc.family, loc.scheme, loc.schema, loc.table) == ("sql", "postgresql", "public", "orders")
    assert loc.display == "postgresql+psycopg://u:***@h:5432/db#public.orders"
    assert "secret" not in loc.dataset
    assert parse_url("sqlite:///x.db#t").path == "sqlite:///x.db"
    f = parse_url("s3://b/k.csv?format=csv&delimiter=;")
    assert f.family == "file" and f.options == {"format": "csv", "delimiter": ";"}
    assert parse_url("data/*.csv").dataset.startswith("file:///")
    with pytest.raises(UsageError):
        parse_url("  ")


def test_file_database_dataset_identity_is_absolute(tmp_path, monkeypatch):
    # sqlite:///rel.db opened from different folders is two datasets; from the same folder
    # it is the absolute path, whichever way it was spelled
    from datamill.io.url import parse_url

    monkeypatch.chdir(tmp_path)
    rel = parse_url("sqlite:///out/w.db#orders").dataset
    assert rel == f"sqlite:///{tmp_path.resolve() / 'out' / 'w.db'}#orders"
    assert parse_url(f"sqlite:///{tmp_path / 'out' / 'w.db'}#orders").dataset == rel
    assert parse_url("sqlite:///:memory:#t").dataset == "sqlite:///:memory:#t"
    assert parse_url("duckdb:///x.duckdb#main.t").dataset == \
        f"duckdb:///{tmp_path.resolve() / 'x.duckdb'}#main.t"
