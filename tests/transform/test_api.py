"""The package surface: lazy imports and names that are both a module and a function."""

from __future__ import annotations

import subprocess
import sys

import polars as pl


def _py(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_import_is_lazy():
    assert _py("import sys, datamill.transform as t; print('polars' in sys.modules, "
               "'duckdb' in sys.modules, len(t.__all__) > 20)") == "False False True"


def test_sql_and_join_stay_functions_however_they_are_imported():
    """The implementation modules are private (``_sql.py``), so importing one never
    shadows the public function of the same name."""
    out = _py(
        "import datamill.transform._sql, datamill.transform._join\n"
        "import datamill.transform as T\n"
        "assert callable(T.sql) and not isinstance(T.sql, type(T)), T.sql\n"
        "from datamill.transform import sql, join\n"
        "import polars as pl\n"
        "a = pl.DataFrame({'k': [1, 2]}); b = pl.DataFrame({'k': [2], 'v': ['x']})\n"
        "print(sql('select count(*) as n from a', a=a)['n'][0], join(a, b, on='k').height)\n"
    )
    assert out == "2 1"
    from datamill import transform

    assert transform.sql("select 1 as x", output="polars").equals(pl.DataFrame({"x": [1]}, schema={"x": pl.Int32}))
