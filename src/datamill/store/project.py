"""The project: the folder holding ``datamill.toml`` (or the current folder), where
``.datamill/`` keeps the run store and artifacts by default.

It lives beside the stores it locates, below the connectors and the runtime, so both can
take it as given: the command line (and ``datamill.flows``) reads it once, at the top, and
passes it down; only a library call made without one (``io.read("warehouse#t")`` in a
script) looks for ``datamill.toml`` itself. ``datamill.runtime.project`` re-exports it."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamill.errors import UsageError

CONFIG_NAME = "datamill.toml"


@dataclass
class Project:
    root: Path
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.config.get("project", {}).get("name") or self.root.name)

    @property
    def state_dir(self) -> Path:
        return self.root / ".datamill"

    @property
    def store_url(self) -> str | None:
        return os.environ.get("DATAMILL_STORE") or self.config.get("store", {}).get("url")

    @property
    def artifacts_root(self) -> str:
        root = os.environ.get("DATAMILL_ARTIFACTS") or self.config.get("artifacts", {}).get("root")
        if not root:
            return str(self.state_dir / "artifacts")
        if "://" in root:
            return root
        p = Path(root).expanduser()
        return str(p if p.is_absolute() else self.root / p)

    @property
    def pools(self) -> dict[str, int]:
        return dict(self.config.get("pools", {}))

    @property
    def secret_env(self) -> list[str]:
        """Environment variables whose values are secrets: redacted in logs and errors."""
        names = list(self.config.get("secrets", {}).get("env", []))
        names += [n.strip() for n in os.environ.get("DATAMILL_SECRET_ENV", "").split(",") if n.strip()]
        return names

    @property
    def pipelines(self) -> dict[str, str]:
        return dict(self.config.get("pipelines", {}))

    def open_store(self) -> Any:
        from datamill.store.runstore import RunStore

        return RunStore.open(self.store_url, project_root=self.root)

    def open_artifacts(self) -> Any:
        from datamill.store.artifacts import ArtifactStore

        return ArtifactStore(self.artifacts_root)


def find_project(start: str | Path | None = None) -> Project:
    """Walk up from ``start`` (default: the current folder) to the folder with datamill.toml."""
    here = Path(start or os.getcwd()).resolve()
    if here.is_file():
        here = here.parent
    for d in (here, *here.parents):
        cfg = d / CONFIG_NAME
        if cfg.is_file():
            try:
                config = tomllib.loads(cfg.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise UsageError(f"{cfg}: invalid TOML: {exc}") from None
            return Project(d, config)
    return Project(here, {})
