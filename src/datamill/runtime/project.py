"""The project (``datamill.toml``): kept here as an import path; it lives in
``datamill.store.project`` so that the connectors, below the runtime, can take it too."""

from __future__ import annotations

from datamill.store.project import CONFIG_NAME, Project, find_project

__all__ = ["CONFIG_NAME", "Project", "find_project"]
