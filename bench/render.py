"""Graph drawing speed (`datamill graph`): text, DOT and SVG of large random DAGs.

Moved here from the render tests, which check correctness only: how fast a busy
machine draws a graph is measured, never asserted in a test.
"""

from __future__ import annotations

import random
from typing import Any

from bench.harness import Benchmark, Case, Contender, Figure, Measurement

_MOD = "bench.render"
SIZES = {"text": 10_000, "dot": 5_000, "svg": 2_000}
GOAL_S = 1.0


def _random_dag(n: int, seed: int) -> Any:
    from datamill.render import STATES, GraphNode, GraphSpec

    rng = random.Random(seed)
    nodes = [GraphNode(f"t{i:05d}", mapped=i % 13 == 0, state=rng.choice((None, *STATES)))
             for i in range(n)]
    edges = []
    for i in range(1, n):
        for p in sorted({rng.randrange(0, i) for _ in range(rng.randint(1, 3))}):
            edges.append((f"t{p:05d}", f"t{i:05d}"))
    return GraphSpec(f"random-{n}", nodes, edges)


def dm_render(case: Case, fmt: str, n: int) -> None:
    from datamill import render

    fn = {"text": render.to_text, "dot": render.to_dot, "svg": render.to_svg}[fmt]
    spec = _random_dag(n, seed=1)
    small = _random_dag(n // 10, seed=1)
    case.ready()
    for _ in case.repeats():
        with case.timed():
            out = fn(spec)
        import time

        t0 = time.perf_counter()
        fn(small)
        case.record(small_seconds=time.perf_counter() - t0, chars=len(out))


def _check(fmt: str, n: int) -> Any:
    def check(res: dict[str, Measurement]) -> list[Figure]:
        m = res["datamill"]
        if not m.ok:
            return [Figure(f"{fmt} of {n:,} nodes", f"error: {m.error}")]
        small = m.extras.get("small_seconds")
        ratio = ""
        if isinstance(small, list) and small:
            small = sorted(small)[len(small) // 2]
        assert m.seconds is not None
        if isinstance(small, int | float) and small > 0:
            ratio = f"{m.seconds / small:.1f}x the time of {n // 10:,} nodes"
        return [Figure(f"{fmt} of {n:,} nodes", f"{m.seconds:.3f} s", ratio,
                       f"≤ {GOAL_S:g} s", m.seconds <= GOAL_S)]
    return check


BENCHMARKS = [
    Benchmark(
        name=f"render.{fmt}", issue=2,
        title=f"`datamill graph` as {fmt} of a random {n:,}-node DAG (1-3 parents per node)",
        goal=f"≤ {GOAL_S:g} s, near-linear (10x the nodes ≈ 10x the time)",
        contenders=[Contender("datamill", f"{_MOD}:dm_render", {"fmt": fmt, "n": n}, repeats=3)],
        check=_check(fmt, n),
        method="The graph is built before `case.ready()`; the timing covers the drawing "
               "call alone. The ratio compares with a tenth of the nodes, drawn in the same "
               "process.",
    )
    for fmt, n in SIZES.items()
]
