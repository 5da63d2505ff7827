"""The one secret reader (datamill/_secrets.py): parameters given or defaulting to env:/file:."""

from __future__ import annotations

import pytest

import datamill
from datamill import Secret
from datamill._secrets import from_options, resolve_param
from datamill.core.params import SecretRef
from datamill.errors import ParameterError, UsageError


def test_resolve_param_env_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_TOKEN", "s3cr3t")
    assert resolve_param(SecretRef("env", "MY_TOKEN"), "token") == "s3cr3t"
    f = tmp_path / "tok"
    f.write_text("fromfile\n")
    assert resolve_param(SecretRef("file", str(f)), "token") == "fromfile"
    with pytest.raises(ParameterError, match="'token'.*MISSING_VAR"):
        resolve_param(SecretRef("env", "MISSING_VAR"), "token")
    with pytest.raises(ParameterError, match="'token'.*names none"):
        resolve_param(SecretRef("env", ""), "token")
    with pytest.raises(ParameterError, match="'token': cannot read file"):
        resolve_param(SecretRef("file", str(tmp_path / "nope")), "token")


def test_from_options_env_file_direct(tmp_path, monkeypatch):
    monkeypatch.setenv("PW", "p1")
    assert from_options({"password_env": "PW"}, "password", "conn x") == "p1"
    (tmp_path / "pw").write_text(" p2\n")
    assert from_options({"password_file": str(tmp_path / "pw")}, "password", "conn x") == "p2"
    assert from_options({"password": "p3"}, "password", "conn x") == "p3"
    assert from_options({}, "password", "conn x") is None
    with pytest.raises(UsageError, match="conn x.*NOPE_PW"):
        from_options({"password_env": "NOPE_PW"}, "password", "conn x")




def test_secret_default_env_reference_is_resolved(tmp_path, monkeypatch):
    monkeypatch.setenv("DM_TEST_TOKEN", "tok-from-env")
    numf = tmp_path / "n"
    numf.write_text("42\n")
    seen: dict = {}

    @datamill.task
    def use(token: Secret[str] = "env:DM_TEST_TOKEN", n: Secret[int] = f"file:{numf}"):
        seen["token"], seen["n"] = token, n

    res = datamill.run([use], project=str(tmp_path), handle_signals=False)
    assert res.ok, res
    assert seen == {"token": "tok-from-env", "n": 42}


def test_secret_default_reference_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("DM_TEST_TOKEN_UNSET", raising=False)

    @datamill.task
    def use(token: Secret[str] = "env:DM_TEST_TOKEN_UNSET"):
        return token

    with pytest.raises(ParameterError, match="'token'.*DM_TEST_TOKEN_UNSET"):
        datamill.run([use], project=str(tmp_path), handle_signals=False)


def test_given_reference_still_resolved_and_parsed(tmp_path, monkeypatch):
    monkeypatch.setenv("DM_TEST_NUM", "7")
    seen: dict = {}

    @datamill.task
    def use(n: Secret[int] = 0):
        seen["n"] = n

    res = datamill.run([use], {"n": "env:DM_TEST_NUM"}, project=str(tmp_path), handle_signals=False)
    assert res.ok and seen["n"] == 7


def test_pipeline_without_reader_refuses_reference():
    from datamill.core.pipeline import Pipeline

    @datamill.task
    def use(token: Secret[str] = "env:X"):
        return token

    with pytest.raises(ParameterError, match="'token'"):
        Pipeline("p", [use]).resolve_params({})


def test_sql_password_file_uses_the_same_reader(tmp_path):
    from datamill.io.sql_dialects import password_for
    from datamill.io.url import parse_url

    loc = parse_url(f"postgresql://u@h/db#t?password_file={tmp_path / 'absent'}")
    with pytest.raises(UsageError, match="password_file of postgresql://u@h/db.*cannot read file"):
        password_for(loc, None)
