"""A test pipeline whose tasks append their key to a count file (side effects to count)."""

import os
import time

import datamill
from datamill import Context


def _count(path: str, what: str) -> None:
    with open(path, "a") as f:
        f.write(what + "\n")


@datamill.task
def numbers(count_file: datamill.Required[str], n: int = 6) -> list[int]:
    _count(count_file, "numbers")
    return list(range(n))


@datamill.task(map="numbers")
def square(numbers: int, count_file: datamill.Required[str], sleep: float = 0.0) -> int:
    _count(count_file, f"square:{numbers}")
    time.sleep(sleep)
    return numbers * numbers


@datamill.task
def total(square: list[int], count_file: datamill.Required[str], ctx: Context,
          fail_total: bool = False) -> int:
    _count(count_file, "total")
    if fail_total or os.environ.get("COUNTING_FAIL_TOTAL") == "1":
        raise RuntimeError("total failed on purpose")
    return sum(square)
