"""OpenLineage events for teams that run Marquez or another OpenLineage backend.

Configure in ``datamill.toml``::

    [openlineage]
    transport = "http"                 # or "file"
    url = "http://127.0.0.1:5000"      # http: events are POSTed to {url}/api/v1/lineage
    path = "lineage/events.jsonl"      # file: one JSON event per line (relative to the project)
    namespace = "shop"                 # the job namespace (default: the project name)

or with the standard environment variables ``OPENLINEAGE_URL`` (and ``OPENLINEAGE_API_KEY``,
sent as a bearer token). Each task instance emits START when it starts and COMPLETE or FAIL
when it ends, with the datasets it read and wrote as inputs and outputs. Sending happens on
a background thread; a backend that is down costs a warning, never the run.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("datamill.run")

PRODUCER = "https://github.com/datamill/datamill"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_NS = uuid.UUID("5b1f8d1e-9c43-4b7a-9f57-3d1c2a6b0d11")


def dataset_ref(dataset: str) -> dict[str, str]:
    """OpenLineage's (namespace, name) of a datamill dataset identity."""
    base, _, frag = dataset.partition("#")
    parts = urlsplit(base)
    if parts.scheme in ("file", ""):
        return {"namespace": "file", "name": parts.path or base}
    scheme = parts.scheme.split("+", 1)[0]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    name = parts.path.lstrip("/")
    if frag:
        name = f"{name}.{frag}" if name else frag
    return {"namespace": f"{scheme}://{netloc}", "name": name or base}


def run_uuid(run_id: str, key: str) -> str:
    return str(uuid.uuid5(_NS, f"{run_id}/{key}"))


class Emitter:
    """Builds run events and hands them to a transport thread."""

    def __init__(self, namespace: str, transport: str, url: str | None = None,
                 path: str | None = None, api_key: str | None = None):
        self.namespace = namespace
        self.transport = transport
        self.url = url.rstrip("/") if url else None
        self.path = path
        self.api_key = api_key
        self._q: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._send_loop, daemon=True,
                                        name="datamill-openlineage")
        self._thread.start()
        self._warned = False

    @classmethod
    def from_project(cls, project: Any) -> Emitter | None:
        cfg = dict(project.config.get("openlineage", {})) if project is not None else {}
        url = cfg.get("url") or os.environ.get("OPENLINEAGE_URL")
        transport = cfg.get("transport") or ("http" if url else None)
        if transport is None:
            return None
        ns = cfg.get("namespace") or os.environ.get("OPENLINEAGE_NAMESPACE") or (
            project.name if project is not None else "datamill")
        path = cfg.get("path")
        if transport == "file":
            p = Path(path or "openlineage.jsonl").expanduser()
            path = str(p if p.is_absolute() else project.root / p)
        elif transport != "http":
            log.warning("openlineage: unknown transport %r (use http or file); not emitting", transport)
            return None
        return cls(ns, transport, url=url, path=path, api_key=os.environ.get("OPENLINEAGE_API_KEY"))

    def event(self, kind: str, pipeline: str, run_id: str, key: str,
              lineage: list[dict[str, Any]] | None = None, error: str | None = None) -> None:
        ev: dict[str, Any] = {
            "eventType": kind,
            "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "producer": PRODUCER,
            "schemaURL": SCHEMA_URL,
            "run": {"runId": run_uuid(run_id, key),
                    "facets": {"datamill": {"_producer": PRODUCER, "_schemaURL": SCHEMA_URL,
                                            "runId": run_id, "taskKey": key}}},
            "job": {"namespace": self.namespace, "name": f"{pipeline}.{key.split('[')[0]}"},
            "inputs": [], "outputs": [],
        }
        for ln in lineage or []:
            ref = dataset_ref(ln["dataset"])
            facets: dict[str, Any] = {}
            schema = ln.get("schema")
            if isinstance(schema, list):
                facets["schema"] = {"_producer": PRODUCER, "_schemaURL": SCHEMA_URL,
                                    "fields": [{"name": f.get("name"), "type": f.get("type")}
                                               for f in schema]}
            if facets:
                ref = {**ref, "facets": facets}
            ev["inputs" if ln["direction"] == "input" else "outputs"].append(ref)
        if error:
            ev["run"]["facets"]["errorMessage"] = {"_producer": PRODUCER, "_schemaURL": SCHEMA_URL,
                                                   "message": error, "programmingLanguage": "python"}
        self._q.put(ev)

    def close(self, timeout: float = 5.0) -> None:
        self._q.put(None)
        self._thread.join(timeout)

    def _send_loop(self) -> None:
        while True:
            ev = self._q.get()
            if ev is None:
                return
            try:
                self._send(ev)
            except Exception as exc:  # noqa: BLE001 - lineage must never fail a run
                if not self._warned:
                    self._warned = True
                    log.warning("openlineage: cannot send events (%s: %s); the run goes on",
                                type(exc).__name__, exc)

    def _send(self, ev: dict[str, Any]) -> None:
        body = json.dumps(ev, default=str)
        if self.transport == "file":
            assert self.path is not None
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(body + "\n")
            return
        import urllib.request

        req = urllib.request.Request(f"{self.url}/api/v1/lineage", data=body.encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - configured URL
            resp.read()
