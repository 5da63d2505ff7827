"""One parser per kind of connector option (issue #14): every connector reads ``y``,
``off`` or ``5`` the same way, and a typo is an error rather than a silent "no"."""

from __future__ import annotations

import pytest

from datamill.errors import UsageError
from datamill.io import brokers_common
from datamill.io.url import FALSE, TRUE, opt_bool, opt_float, opt_int, parse_url


@pytest.mark.parametrize("text", ["1", "true", "True", "YES", "y", "on", "t", " yes "])
def test_true_spellings(text):
    assert opt_bool(text) is True
    assert brokers_common.opt_bool({"x": text}, "x", False) is True


@pytest.mark.parametrize("text", ["0", "false", "FALSE", "no", "n", "off", "f"])
def test_false_spellings(text):
    assert opt_bool(text, True) is False


def test_defaults_and_python_values():
    assert opt_bool(None, True) is True and opt_bool("", True) is True
    assert opt_bool(True) is True and opt_bool(0, True) is False
    assert set(TRUE).isdisjoint(FALSE)


@pytest.mark.parametrize("text", ["ture", "maybe", "2", "yess"])
def test_other_text_is_a_usage_error_naming_the_option(text):
    with pytest.raises(UsageError, match=f"option header={text!r} must be true or false"):
        opt_bool(text, name="header")


def test_numbers():
    assert opt_int("5") == 5 and opt_int("5.0") == 5 and opt_int(None, 7) == 7
    assert opt_int("", 3) == 3 and opt_float("0.5") == 0.5
    with pytest.raises(UsageError, match="ttl='x' must be a number"):
        opt_int("x", name="ttl")
    with pytest.raises(UsageError, match="whole number"):
        opt_int("1.5", name="ttl")


def test_every_connector_uses_the_one_parser(tmp_path):
    """`y` was true for files and HTTP but false for SQL and brokers; now it is true for all."""
    from datamill.io.sql import SqlSink

    sink = SqlSink(parse_url(f"sqlite:///{tmp_path}/d.db#t", evolve="y"))
    assert sink.evolve is True
    with pytest.raises(UsageError, match="evolve='perhaps'"):
        SqlSink(parse_url(f"sqlite:///{tmp_path}/d.db#t", evolve="perhaps"))


def test_http_token_file_goes_through_the_one_secret_reader(tmp_path, monkeypatch):
    """token_env / token_file read like every other secret (``datamill._secrets``): the
    same messages, the file stripped of its newline."""
    from datamill.io.http import open_source

    url = "http://127.0.0.1:9/api"
    missing = tmp_path / "nope"
    with pytest.raises(UsageError, match=r"the HTTP source \(token_file\): cannot read file"):
        open_source(parse_url(url, token_file=str(missing)))
    monkeypatch.delenv("DM_NO_SUCH_TOKEN", raising=False)
    with pytest.raises(UsageError, match="environment variable 'DM_NO_SUCH_TOKEN', which is "
                                         "not set"):
        open_source(parse_url(url, token_env="DM_NO_SUCH_TOKEN"))
    (tmp_path / "tok").write_text("s3cret\n")
    src = open_source(parse_url(url, token_file=str(tmp_path / "tok")))
    assert "s3cret" in src.secrets
