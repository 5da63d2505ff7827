"""The one JSON-able conversion behind every analytics result's ``to_dict()``.

Plain Python out (str, int, float, bool, None, list, dict with string keys): numpy scalars
and arrays to Python, non-finite floats (NaN, ±inf) to ``None`` (JSON has no NaN and
``json.dumps(allow_nan=False)`` must succeed), dates and times to ISO text, durations to
text, dataclasses to their fields, objects with ``to_dict()`` to that, anything else to its
``str()``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from typing import Any


def jsonable(v: Any) -> Any:
    """``v`` as plain JSON-able Python (see the module)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return [jsonable(x) for x in v]
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    mod = type(v).__module__.split(".")[0]
    if mod == "numpy":
        if getattr(v, "ndim", 0):
            return [jsonable(x) for x in v.tolist()]
        return jsonable(v.item())
    if mod == "pandas" and hasattr(v, "isoformat"):
        return None if v != v else v.isoformat()  # Timestamp; NaT is missing
    if hasattr(v, "to_dict") and callable(v.to_dict) and not hasattr(v, "dtype"):
        return jsonable(v.to_dict())
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return jsonable({f.name: getattr(v, f.name) for f in dataclasses.fields(v)})
    return str(v)
