"""Composition: work that puts connectors, contracts and the run engine together.

A flow reads the project once (or is given it), parses each location once, and runs as an
ordinary recorded run, so the layers below never call back up: ``io`` moves data,
``quality`` checks it, ``runtime`` runs and records tasks, and a flow composes them. The
command line calls flows, and so will the server; the stream runtime will live beside them.

* ``copy.py``: ``datamill copy SOURCE... DEST`` (``copy()``, ``CopyReport``), a one-task
  pipeline with contract, quarantine, dedupe and incremental watermark;
  ``copy_parts.py``: its line accounting, dedupe and the chain of sources.
"""

from __future__ import annotations
