"""The benchmark harness: a registry of benchmarks, one subprocess per contender, a report.

A benchmark module (any ``bench/*.py`` other than this one) declares a module-level
``BENCHMARKS`` list of :class:`Benchmark`. Each benchmark names its contenders (datamill,
plain-Python baselines, peer tools); each contender is a function ``fn(case, **kwargs)``
that does its imports, calls ``case.ready()``, then times its work with ``case.timed()``
once per ``case.repeats()``. The harness runs every contender in its own interpreter, so
imports, caches and the memory peak of one never leak into another, and hands the
measurements to the benchmark's ``check`` function, which turns them into figures judged
against the goal of the benchmark's issue.

This module is imported by children running in the peers' virtualenv too: it must stay
standard-library only at import time (rich is imported by the report functions alone).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib
import importlib.metadata
import json
import os
import pkgutil
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PEERS_VENV = BENCH_DIR / ".venv-peers"
PEERS_REQUIREMENTS = BENCH_DIR / "peers" / "requirements.txt"
REPORT = REPO / "BENCHMARKS.md"
RESULT_MARK = "BENCH-RESULT "
DATA_BEGIN = "<!-- bench-data"
DATA_END = "bench-data -->"
NOT_BENCHMARK_MODULES = {"harness", "__main__"}

# -- declarations ------------------------------------------------------------------------------


@dataclass
class Contender:
    """One side of a comparison, run in its own subprocess.

    ``fn`` is ``"module:function"``; the function is called as ``fn(case, **kwargs)``.
    ``role`` is ``datamill``, ``baseline`` (plain Python, measured in every mode) or
    ``peer`` (another tool: measured only with ``--peers``, in the peers' virtualenv).
    """

    name: str
    fn: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    role: str = "datamill"
    repeats: int = 3
    quick_repeats: int = 1
    warmup: int = 1
    packages: tuple[str, ...] = ()  # whose versions to report
    timeout: float = 900.0
    quick: bool = True  # run by --quick (peers never are)


@dataclass
class Figure:
    """One reported number, next to its baseline and judged against its goal.

    ``met`` is True / False when the figure has a goal, None when it is informative.
    """

    label: str
    value: str
    baseline: str = ""
    goal: str = ""
    met: bool | None = None
    contender: str = "datamill"


@dataclass
class Benchmark:
    """A benchmark: what it measures, the goal of its issue, who runs, how figures are judged.

    ``check(results)`` receives ``{contender name: Measurement}`` (peers missing unless
    measured, failed contenders with ``error`` set) and returns the figures to report.
    ``reference`` lists figures quoted from the issue for tools not measured here.
    """

    name: str
    issue: int
    title: str
    goal: str
    contenders: list[Contender]
    check: Callable[[dict[str, Measurement]], list[Figure]]
    method: str = ""
    reference: list[tuple[str, str]] = field(default_factory=list)
    quick: bool = True


@dataclass
class Measurement:
    """What a contender's child process reports."""

    contender: str
    role: str
    seconds: float | None = None  # median of the timed samples
    best: float | None = None
    samples: list[float] = field(default_factory=list)
    rss_base_mb: float | None = None
    rss_peak_mb: float | None = None
    rss_growth_mb: float | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    python: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and self.seconds is not None


def discover() -> list[Benchmark]:
    """Every benchmark declared by the modules of ``bench/`` (``BENCHMARKS = [...]``)."""
    found: list[Benchmark] = []
    for info in sorted(pkgutil.iter_modules([str(BENCH_DIR)]), key=lambda i: i.name):
        if info.name in NOT_BENCHMARK_MODULES or info.name.startswith("_") or info.ispkg:
            continue
        mod = importlib.import_module(f"bench.{info.name}")
        found.extend(getattr(mod, "BENCHMARKS", []))
    names = [b.name for b in found]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SystemExit(f"duplicate benchmark names: {', '.join(sorted(dupes))}")
    return found


# -- the child side ----------------------------------------------------------------------------


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class Case:
    """Handed to a contender function in its child process: marks, times and records."""

    def __init__(self, repeats: int, warmup: int):
        self.n_repeats = max(1, repeats)
        self.warmup = max(0, warmup)
        self.samples: list[float] = []
        self.extras: dict[str, Any] = {}
        self.rss_base: float | None = None
        self._index = 0

    def ready(self) -> None:
        """Call once imports and set-up are done: peak RSS is reported as growth over this."""
        self.rss_base = _maxrss_mb()

    def repeats(self) -> Iterator[int]:
        """The iterations to run: ``warmup`` discarded ones, then the measured repeats."""
        if self.rss_base is None:
            self.ready()
        for i in range(self.warmup + self.n_repeats):
            self._index = i
            yield i

    @property
    def measuring(self) -> bool:
        """False during warm-up iterations."""
        return self._index >= self.warmup

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        """Time the block; warm-up iterations are not kept."""
        t0 = time.perf_counter()
        yield
        elapsed = time.perf_counter() - t0
        if self.measuring:
            self.samples.append(elapsed)

    def record(self, **extras: Any) -> None:
        """Keep extra figures (numbers are kept per measured repeat and reported as medians)."""
        if not self.measuring:
            return
        for k, v in extras.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                self.extras.setdefault(k, []).append(v)
            else:
                self.extras[k] = v


def _versions(packages: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pkg in packages:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def child_main(spec_json: str) -> int:
    """Run one contender (in this fresh interpreter) and print its measurement as JSON."""
    spec = json.loads(spec_json)
    m = Measurement(spec["name"], spec["role"], python=platform.python_version())
    try:
        mod_name, fn_name = spec["fn"].split(":")
        fn = getattr(importlib.import_module(mod_name), fn_name)
        case = Case(spec["repeats"], spec["warmup"])
        fn(case, **spec["kwargs"])
        if not case.samples:
            raise RuntimeError(f"{spec['fn']} timed nothing (no case.timed() block ran)")
        peak = _maxrss_mb()
        m.samples = [round(s, 6) for s in case.samples]
        m.seconds = statistics.median(case.samples)
        m.best = min(case.samples)
        m.rss_base_mb = round(case.rss_base or 0.0, 2)
        m.rss_peak_mb = round(peak, 2)
        m.rss_growth_mb = round(peak - (case.rss_base or 0.0), 2)
        m.extras = {
            k: statistics.median(v) if isinstance(v, list) and v and isinstance(v[0], int | float)
            else v
            for k, v in case.extras.items()
        }
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, not raised
        import traceback

        m.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
    m.versions = _versions(tuple(spec.get("packages", ())))
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps(asdict(m), default=str), flush=True)
    return 0


# -- the parent side ---------------------------------------------------------------------------


@dataclass
class Options:
    quick: bool = False
    only: list[str] = field(default_factory=list)
    write: bool = True
    peers: bool = False
    list_only: bool = False
    verbose: bool = False


def _selected(benchmarks: list[Benchmark], opts: Options) -> list[Benchmark]:
    out = []
    for b in benchmarks:
        if opts.only and not any(o == b.name or b.name.startswith(o.rstrip(".") + ".")
                                 or o in b.name for o in opts.only):
            continue
        if opts.quick and not b.quick:
            continue
        out.append(b)
    return out


def run_contender(c: Contender, opts: Options, python: str) -> Measurement:
    spec = {
        "name": c.name, "role": c.role, "fn": c.fn, "kwargs": c.kwargs,
        "repeats": c.quick_repeats if opts.quick else c.repeats, "warmup": c.warmup,
        "packages": list(c.packages),
    }
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONHASHSEED", "0")
    cmd = [python, "-m", "bench", "--child", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=c.timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Measurement(c.name, c.role, error=f"timed out after {c.timeout:.0f}s")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            data = json.loads(line[len(RESULT_MARK):])
            m = Measurement(**data)
            if m.error and proc.stderr:
                m.extras["stderr"] = proc.stderr[-2000:]
            return m
    tail = (proc.stderr or proc.stdout)[-1500:].strip()
    return Measurement(c.name, c.role, error=f"child exited {proc.returncode} without a result: {tail}")


def _peers_stamp() -> str:
    return hashlib.sha256(PEERS_REQUIREMENTS.read_bytes()).hexdigest()[:16]


def ensure_peers_venv(log: Callable[[str], None]) -> str:
    """Create or update ``bench/.venv-peers`` from ``bench/peers/requirements.txt``."""
    py = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / ".bench-stamp"
    want = _peers_stamp()
    if py.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return str(py)
    if not py.exists():
        log(f"creating {PEERS_VENV.relative_to(REPO)} (peer tools live apart from datamill's deps)")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(PEERS_VENV)], check=True)
    uv = Path(sys.executable).parent / "uv"
    log(f"installing peer tools from {PEERS_REQUIREMENTS.relative_to(REPO)}")
    if uv.exists():
        cmd = [str(uv), "pip", "install", "-q", "--python", str(py), "-r", str(PEERS_REQUIREMENTS)]
    else:
        subprocess.run([str(py), "-m", "ensurepip", "-q"], check=True)
        cmd = [str(py), "-m", "pip", "install", "-q", "-r", str(PEERS_REQUIREMENTS)]
    subprocess.run(cmd, check=True)
    stamp.write_text(want + "\n")
    return str(py)


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    commit = ""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                                capture_output=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO, text=True,
                               capture_output=True).stdout.strip()
        if dirty:
            commit += " (src/ has uncommitted changes)"
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count() or "?"),
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "load": f"{_LOAD.get('start', _loadavg())} at start, {_LOAD.get('end', _loadavg())} at end "
                "(1 / 5 / 15 min; other work on the machine inflates and scatters the times)",
    }


@dataclass
class BenchReport:
    benchmark: str
    issue: int
    title: str
    goal: str
    method: str
    figures: list[Figure]
    measurements: dict[str, Measurement]
    reference: list[tuple[str, str]]
    mode: str
    date: str


def _preflight() -> None:
    """Fail fast, before anything is written, when datamill itself cannot be imported."""
    proc = subprocess.run([sys.executable, "-c", "import datamill, datamill.runtime.api"],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"datamill does not import ({last}); nothing was measured. "
                         "Run `make venv` or fix the import first.")


def run_benchmarks(opts: Options, log: Callable[[str], None]) -> list[BenchReport]:
    benchmarks = _selected(discover(), opts)
    if not benchmarks:
        raise SystemExit(f"no benchmark matches {opts.only}; try --list")
    if any(c.role == "datamill" for b in benchmarks for c in b.contenders):
        _preflight()
    peers_py = None
    _LOAD["start"] = _loadavg()
    if opts.peers and any(c.role == "peer" for b in benchmarks for c in b.contenders):
        peers_py = ensure_peers_venv(log)
    reports = []
    mode = "quick" if opts.quick else "full"
    for b in benchmarks:
        results: dict[str, Measurement] = {}
        for c in b.contenders:
            if c.role == "peer" and (opts.quick or not opts.peers):
                continue
            if opts.quick and not c.quick:
                continue
            python = peers_py if c.role == "peer" else sys.executable
            log(f"[{b.name}] {c.name} ...")
            t0 = time.perf_counter()
            m = run_contender(c, opts, python or sys.executable)
            took = time.perf_counter() - t0
            if m.ok:
                log(f"[{b.name}] {c.name}: {m.seconds:.4f}s median of {len(m.samples)} "
                    f"(+{m.rss_growth_mb:.1f} MB peak RSS; child took {took:.1f}s)")
            else:
                log(f"[{b.name}] {c.name}: FAILED {m.error}")
            results[c.name] = m
        try:
            figures = b.check(results)
        except Exception as exc:  # noqa: BLE001 - a broken check must not lose the others
            figures = [Figure("check failed", f"{type(exc).__name__}: {exc}", met=False)]
        reports.append(BenchReport(b.name, b.issue, b.title, b.goal, b.method, figures, results,
                                   list(b.reference), mode, dt.datetime.now(dt.UTC).strftime(
                                       "%Y-%m-%d %H:%M UTC")))
    _LOAD["end"] = _loadavg()
    return reports


_LOAD: dict[str, str] = {}


def _loadavg() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# -- formatting helpers for check functions ----------------------------------------------------


def ms(seconds: float | None, digits: int = 3) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.{digits}f} ms"


def status(met: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "—"}[met]


# -- the report --------------------------------------------------------------------------------


def print_table(reports: list[BenchReport]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    table = Table(title="datamill benchmarks", show_lines=False)
    for col in ("benchmark", "figure", "measured", "baseline", "goal", "status"):
        table.add_column(col, overflow="fold")
    for r in reports:
        first = True
        for f in r.figures:
            colour = {True: "green", False: "red", None: "dim"}[f.met]
            who = "" if f.contender == "datamill" else f" [dim]({f.contender})[/]"
            table.add_row(r.benchmark if first else "", f.label + who, f.value, f.baseline, f.goal,
                          f"[{colour}]{status(f.met)}[/]")
            first = False
        table.add_section()
    console.print(table)
    refs = [(r.benchmark, tool, fig) for r in reports for tool, fig in r.reference
            if not any(f.contender == tool for f in r.figures)]
    if refs:
        console.print("[dim]Peer figures quoted from the issue (reference, not measured here; "
                      "run with --peers to measure):[/]")
        for bench, tool, fig in refs:
            console.print(f"[dim]  {bench}: {tool} {fig}[/]")


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _load_previous() -> dict[str, Any]:
    if not REPORT.exists():
        return {}
    text = REPORT.read_text()
    start = text.find(DATA_BEGIN)
    end = text.find(DATA_END)
    if start < 0 or end < 0:
        return {}
    try:
        return json.loads(text[start + len(DATA_BEGIN):end])
    except json.JSONDecodeError:
        return {}


def _report_to_json(r: BenchReport) -> dict[str, Any]:
    return {
        "benchmark": r.benchmark, "issue": r.issue, "title": r.title, "goal": r.goal,
        "method": r.method, "mode": r.mode, "date": r.date,
        "figures": [asdict(f) for f in r.figures],
        "measurements": {k: asdict(m) for k, m in r.measurements.items()},
        "reference": [list(x) for x in r.reference],
    }


def _report_from_json(d: dict[str, Any]) -> BenchReport:
    return BenchReport(
        d["benchmark"], d["issue"], d["title"], d["goal"], d.get("method", ""),
        [Figure(**f) for f in d["figures"]],
        {k: Measurement(**m) for k, m in d["measurements"].items()},
        [tuple(x) for x in d.get("reference", [])], d.get("mode", "?"), d.get("date", "?"),
    )


def write_markdown(reports: list[BenchReport], opts: Options, machine: dict[str, str]) -> Path:
    """Rewrite BENCHMARKS.md; benchmarks not run this time (``--only``) keep their last figures."""
    prev = _load_previous()
    by_name: dict[str, BenchReport] = {}
    order = [b.name for b in discover()]
    for d in prev.get("reports", []):
        if d["benchmark"] in order:
            by_name[d["benchmark"]] = _report_from_json(d)
    for r in reports:
        by_name[r.benchmark] = r
    all_reports = [by_name[n] for n in order if n in by_name]
    carried = [r for r in all_reports if r not in reports]

    versions: dict[str, str] = {}
    for r in all_reports:
        for m in r.measurements.values():
            versions.update(m.versions)

    lines: list[str] = []
    w = lines.append
    w("# Benchmarks")
    w("")
    w("Written by `python -m bench` (see [bench/README.md](bench/README.md)); do not edit by hand. "
      "Each contender runs in its own interpreter; times are medians of the measured repeats "
      "after one discarded warm-up; memory is the growth of peak RSS "
      "(`getrusage(RUSAGE_SELF).ru_maxrss`) over the child's baseline once imports and set-up "
      "are done.")
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("| --- | --- |")
    for key, label in (("cpu", "CPU"), ("cores", "cores"), ("ram", "RAM"), ("os", "OS"),
                       ("python", "Python"), ("date", "date"), ("commit", "datamill commit"),
                       ("load", "load average")):
        w(f"| {label} | {_md_escape(machine.get(key, ''))} |")
    mode = "quick (`--quick`: datamill and plain baselines only, one repeat)" if opts.quick else (
        "full, peers measured (`--peers`)" if opts.peers else "full, peers not measured")
    w(f"| run | {mode} |")
    if carried:
        w(f"| carried over | {', '.join(r.benchmark for r in carried)} (from earlier runs, "
          "see their dates below) |")
    w("")
    w("Package versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + ".")
    w("")

    issues = sorted({r.issue for r in all_reports})
    for issue in issues:
        group = [r for r in all_reports if r.issue == issue]
        w(f"## Issue #{issue}")
        w("")
        w("| benchmark | figure | measured | baseline | goal | status |")
        w("| --- | --- | --- | --- | --- | --- |")
        for r in group:
            for f in r.figures:
                who = "" if f.contender == "datamill" else f" ({f.contender})"
                st = {True: "**met**", False: "**not met**", None: "—"}[f.met]
                w(f"| {r.benchmark} | {_md_escape(f.label + who)} | {_md_escape(f.value)} | "
                  f"{_md_escape(f.baseline)} | {_md_escape(f.goal)} | {st} |")
        w("")
        refs = [(r.benchmark, t, fig) for r in group for t, fig in r.reference
                if not any(f.contender == t for f in r.figures)]
        if refs:
            w("Peer figures quoted from the issue — **reference, not measured here** "
              "(`python -m bench --peers` measures the ones in `bench/peers/requirements.txt`):")
            w("")
            for bench, tool, fig in refs:
                w(f"- {bench}: {tool} {fig}")
            w("")
        for r in group:
            w(f"### {r.benchmark}: {r.title}")
            w("")
            w(f"Goal: {r.goal}. Measured {r.date}, {r.mode} run.")
            if r.method:
                w("")
                w(r.method)
            w("")
            w("| contender | median | best | repeats | peak RSS growth | notes |")
            w("| --- | --- | --- | --- | --- | --- |")
            for m in r.measurements.values():
                if not m.ok:
                    w(f"| {m.contender} | failed | | | | {_md_escape((m.error or '')[:300])} |")
                    continue
                notes = ", ".join(f"{k}={_fmt_extra(v)}" for k, v in m.extras.items()
                                  if k != "stderr")
                w(f"| {m.contender} | {m.seconds:.4f} s | {m.best:.4f} s | {len(m.samples)} | "
                  f"{m.rss_growth_mb:.1f} MB | {_md_escape(notes)} |")
            w("")
    data = {"reports": [_report_to_json(r) for r in all_reports]}
    w(DATA_BEGIN)
    w(json.dumps(data, indent=None, default=str))
    w(DATA_END)
    REPORT.write_text("\n".join(lines) + "\n")
    return REPORT


def _fmt_extra(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# -- entry point -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m bench", description=(
        "Run datamill's benchmarks, each contender in its own subprocess, print a table and "
        "rewrite BENCHMARKS.md."))
    ap.add_argument("--quick", action="store_true",
                    help="about a minute: datamill and plain baselines only, one repeat each")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only benchmarks whose name is NAME, starts with NAME. or contains it "
                         "(repeatable)")
    ap.add_argument("--no-write", action="store_true", help="do not rewrite BENCHMARKS.md")
    ap.add_argument("--peers", action="store_true",
                    help="also measure peer tools, in bench/.venv-peers (created on first use)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args.child)
    opts = Options(quick=args.quick, only=args.only, write=not args.no_write, peers=args.peers)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.list:
        for b in discover():
            who = ", ".join(f"{c.name} [{c.role}]" for c in b.contenders)
            print(f"{b.name}  (issue #{b.issue}{'' if b.quick else ', full only'})  {b.title}")
            print(f"    goal: {b.goal}")
            print(f"    contenders: {who}")
        return 0
    if opts.quick and opts.peers:
        log("--quick runs datamill and plain baselines only; ignoring --peers")
        opts.peers = False
    t0 = time.perf_counter()
    reports = run_benchmarks(opts, log)
    print_table(reports)
    log(f"benchmarks took {time.perf_counter() - t0:.1f}s")
    if opts.write:
        path = write_markdown(reports, opts, machine_info())
        log(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
