"""Load a pipeline from a file, a module, or a name declared in datamill.toml."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from datamill.core.pipeline import Pipeline, SourceRef
from datamill.core.task import Task
from datamill.errors import PipelineDefinitionError, UsageError
from datamill.runtime.project import Project


def load_pipeline(target: Any, project: Project | None = None) -> Pipeline:
    """Turn what the user named into a validated Pipeline.

    ``target`` is a Pipeline, a module, a list of tasks, a path to a ``.py`` file
    (optionally ``file.py:attribute``), a module name (``pkg.mod`` or ``pkg.mod:attr``),
    or a pipeline name from ``[pipelines]`` in datamill.toml.
    """
    if isinstance(target, Pipeline):
        return target
    if isinstance(target, ModuleType):
        p = Pipeline.from_module(target)
        p.source = SourceRef("module", target.__name__)
        return p
    if isinstance(target, list | tuple):
        return Pipeline("pipeline", target)
    if isinstance(target, Task):
        return Pipeline(target.name, [target])
    if not isinstance(target, str | Path):
        raise UsageError(f"cannot make a pipeline from {type(target).__name__}")
    text = str(target)
    if project and text in project.pipelines:
        text = str(project.root / project.pipelines[text])
    path_part, _, attr = text.partition(":") if not Path(text).exists() else (text, "", "")
    path = Path(path_part)
    if path.suffix == ".py" or path.exists():
        if not path.is_absolute() and not path.exists() and project is not None:
            path = project.root / path
        if not path.is_file():
            raise UsageError(f"pipeline file {path_part!r} does not exist")
        module = _load_file(path.resolve())
        p = _from_module(module, attr, f"{path}", path.stem)
        p.source = SourceRef("file", str(path.resolve()), attr or None, module.__name__)
        return p
    if project is not None:
        for cand in (project.root / "pipelines" / f"{text}.py", project.root / f"{text}.py"):
            if cand.is_file():
                module = _load_file(cand.resolve())
                p = _from_module(module, "", str(cand), cand.stem)
                p.source = SourceRef("file", str(cand.resolve()), None, module.__name__)
                return p
    try:
        module = importlib.import_module(path_part)
    except ModuleNotFoundError as exc:
        if exc.name and path_part.startswith(exc.name):
            raise UsageError(
                f"no pipeline {text!r}: not a .py file, an importable module, or a name under "
                "[pipelines] in datamill.toml"
            ) from None
        raise UsageError(f"cannot import pipeline module {path_part!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001
        raise UsageError(_user_error(f"module {path_part!r}", exc)) from None
    p = _from_module(module, attr, path_part)
    p.source = SourceRef("module", path_part, attr or None, module.__name__)
    return p


def _from_module(module: ModuleType, attr: str, where: str, stem: str | None = None) -> Pipeline:
    if attr:
        obj = getattr(module, attr, None)
        if obj is None:
            raise UsageError(f"{where} has no attribute {attr!r}")
        if isinstance(obj, Pipeline):
            return obj
        if callable(obj):
            obj = obj()
            if isinstance(obj, Pipeline):
                return obj
        raise UsageError(f"{where}:{attr} is not a datamill.Pipeline")
    pipelines = [v for v in vars(module).values() if isinstance(v, Pipeline)]
    if len(pipelines) == 1:
        return pipelines[0]
    if len(pipelines) > 1:
        names = ", ".join(sorted(p.name for p in pipelines))
        raise UsageError(f"{where} defines several pipelines ({names}); choose one with {where}:NAME")
    return Pipeline.from_module(module, default_name=stem)


def _load_file(path: Path) -> ModuleType:
    digest = hashlib.blake2b(str(path).encode(), digest_size=4).hexdigest()
    mod_name = f"datamill_pipelines.{path.stem}_{digest}"
    existing = sys.modules.get(mod_name)
    if existing is not None and getattr(existing, "__datamill_mtime__", None) == path.stat().st_mtime_ns:
        return existing
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load pipeline file {path}")
    module = importlib.util.module_from_spec(spec)
    module.__datamill_mtime__ = path.stat().st_mtime_ns  # type: ignore[attr-defined]
    if "datamill_pipelines" not in sys.modules:
        pkg = ModuleType("datamill_pipelines")
        pkg.__path__ = []  # type: ignore[attr-defined]
        sys.modules["datamill_pipelines"] = pkg
    sys.modules[mod_name] = module
    parent = str(path.parent)
    added = parent not in sys.path
    if added:
        sys.path.insert(0, parent)  # sibling helper modules of the pipeline file import as usual
    try:
        spec.loader.exec_module(module)
    except PipelineDefinitionError:
        sys.modules.pop(mod_name, None)
        raise
    except Exception as exc:  # noqa: BLE001
        sys.modules.pop(mod_name, None)
        raise UsageError(_user_error(f"pipeline file {path}", exc)) from None
    _by_value(module)
    return module


def _by_value(module: ModuleType) -> None:
    """Pipeline files are not importable by name elsewhere: ship their functions by value."""
    try:
        import cloudpickle

        cloudpickle.register_pickle_by_value(module)
    except (ImportError, ValueError):
        pass


def _user_error(where: str, exc: BaseException) -> str:
    """One readable message: the error and the last frame of the user's code, no wall."""
    if isinstance(exc, SyntaxError):
        return f"cannot load {where}: SyntaxError: {exc.msg} (line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename and "/datamill/" not in f.filename]
    loc = f" at {user[-1].filename}:{user[-1].lineno}" if user else ""
    return f"cannot load {where}: {type(exc).__name__}: {exc}{loc}"
