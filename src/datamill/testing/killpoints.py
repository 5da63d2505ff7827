"""Kill a process at a point it announces, not after a guessed sleep.

Code under test marks interesting moments with ``reached("name")`` (after a checkpoint
is written, before a transaction commits, ...). Unless ``DATAMILL_KILLPOINT_DIR`` was set
when this module was imported, that call is one global lookup and returns. When it is
set, each call appends the caller's pid to the marker file ``<dir>/<name>``, and, if the
name is armed in ``DATAMILL_KILLPOINT_BLOCK``, waits until ``<dir>/<name>.go`` exists, so
the process sits still at that exact point while the test kills it.

Test side::

    kp = KillPoint(tmp_path)
    proc = subprocess.Popen(cmd, env=kp.env(block=["after-commit"]), start_new_session=True)
    kp.wait_for("after-commit", proc=proc)
    os.killpg(proc.pid, signal.SIGKILL)

or in one call: ``run_and_kill_at(cmd, "after-commit", cwd=..., env=...)``.

Environment (read once, at import; use :func:`configure` to change it in-process):

``DATAMILL_KILLPOINT_DIR``
    directory for marker files; unset means every ``reached()`` is a no-op.
``DATAMILL_KILLPOINT_BLOCK``
    comma-separated names at which ``reached()`` blocks, ``*`` for all; ``name:N`` blocks
    only at the N-th time that name is reached in this process.
``DATAMILL_KILLPOINT_TIMEOUT``
    seconds a blocked ``reached()`` waits for its ``.go`` file before carrying on
    (default 120), so a forgotten test never leaves a process hanging for ever.
"""

from __future__ import annotations

import os
import time

from datamill._killpoint import (
    ENV_BLOCK,
    ENV_DIR,
    ENV_TIMEOUT,
    _check_name,
    configure,
    reached,
)

__all__ = [
    "ENV_BLOCK",
    "ENV_DIR",
    "ENV_TIMEOUT",
    "Hit",
    "KillPoint",
    "KillPointNotReached",
    "KilledProcess",
    "configure",
    "reached",
    "run_and_kill_at",
]


# --------------------------------------------------------------------------- test side


class KillPointNotReached(AssertionError):
    """The process under test exited, or the timeout passed, before it reached the point."""


class Hit:
    """A kill point that was reached: its name and the pid of every process that hit it."""

    def __init__(self, name: str, pids: list[int]):
        self.name = name
        self.pids = pids

    @property
    def pid(self) -> int:
        """The pid of the latest hit."""
        return self.pids[-1]

    @property
    def count(self) -> int:
        return len(self.pids)

    def __repr__(self) -> str:
        return f"Hit({self.name!r}, pids={self.pids})"


class KillPoint:
    """The test side of kill points, over one marker directory.

    ``env()`` gives the environment to start the process under test with; ``wait_for()``
    returns once a point is reached (it is then blocked there if armed); ``release()``
    lets a blocked process go on.
    """

    def __init__(self, directory: str | os.PathLike[str]):
        self.dir = os.fspath(directory)
        os.makedirs(self.dir, exist_ok=True)

    def env(
        self,
        block: str | list[str] | tuple[str, ...] | None = None,
        base: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, str]:
        """A copy of ``base`` (default ``os.environ``) with the kill-point variables set."""
        env = dict(os.environ if base is None else base)
        env[ENV_DIR] = self.dir
        if isinstance(block, (list, tuple)):
            block = ",".join(block)
        if block:
            env[ENV_BLOCK] = block
        else:
            env.pop(ENV_BLOCK, None)
        if timeout is not None:
            env[ENV_TIMEOUT] = str(timeout)
        return env

    def path(self, name: str) -> str:
        _check_name(name)
        return os.path.join(self.dir, name)

    def hits(self, name: str) -> list[int]:
        """The pids that reached ``name`` so far, one per hit, oldest first."""
        try:
            with open(self.path(name), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        # A partial last line (being written) is not a hit yet.
        return [int(x) for x in data.split(b"\n")[:-1] if x]

    def is_reached(self, name: str, count: int = 1) -> bool:
        return len(self.hits(name)) >= count

    def wait_for(
        self,
        name: str,
        timeout: float = 30.0,
        count: int = 1,
        proc: object | None = None,
    ) -> Hit:
        """Wait until ``name`` was reached ``count`` times; return the :class:`Hit`.

        With ``proc`` (a ``subprocess.Popen``), fail at once if it exits first.
        Raises :class:`KillPointNotReached` on timeout.
        """
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while True:
            pids = self.hits(name)
            if len(pids) >= count:
                return Hit(name, pids)
            if proc is not None and proc.poll() is not None:  # type: ignore[attr-defined]
                # It may have reached the point just before exiting.
                pids = self.hits(name)
                if len(pids) >= count:
                    return Hit(name, pids)
                raise KillPointNotReached(
                    f"process {proc.pid} exited with code {proc.returncode} before "  # type: ignore[attr-defined]
                    f"reaching kill point {name!r} (hits: {len(pids)}/{count})"
                )
            if time.monotonic() > deadline:
                raise KillPointNotReached(
                    f"kill point {name!r} not reached {count} time(s) within {timeout}s "
                    f"(hits: {len(pids)}); is {ENV_DIR} passed to the process, and does the "
                    "code call datamill.testing.killpoints.reached() there?"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def release(self, name: str) -> None:
        """Let processes blocked at ``name`` go on (creates ``<name>.go``)."""
        with open(self.path(name) + ".go", "wb"):
            pass

    def reset(self, name: str) -> None:
        """Forget the hits and the release of ``name`` (to reuse the directory)."""
        for p in (self.path(name), self.path(name) + ".go"):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


class KilledProcess:
    """What :func:`run_and_kill_at` returns, shaped like ``subprocess.CompletedProcess``."""

    def __init__(
        self,
        args: object,
        returncode: int,
        stdout: str,
        stderr: str,
        killed: bool,
        pid: int,
        hit: Hit | None,
    ):
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.killed = killed
        self.pid = pid
        self.hit = hit

    def __repr__(self) -> str:
        return (
            f"KilledProcess(args={self.args!r}, returncode={self.returncode}, "
            f"killed={self.killed}, hit={self.hit!r})"
        )


def run_and_kill_at(
    cmd: list[str] | str,
    name: str,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    *,
    count: int = 1,
    cwd: str | os.PathLike[str] | None = None,
    directory: str | os.PathLike[str] | None = None,
    target: str = "group",
    check: bool = True,
) -> KilledProcess:
    """Run ``cmd``, wait until it reaches kill point ``name``, SIGKILL it, return.

    The process is started in a new session and blocked at the point (``name:count`` is
    armed), so the kill lands exactly there. ``target="group"`` (default) kills its
    whole process group (the program and any workers it started, as a crash of the
    machine would); ``"process"`` kills only ``cmd``'s process; ``"hit"`` kills only
    the process that reached the point (a worker, say), leaving the rest running to
    handle it. ``env`` is the base environment (default ``os.environ``); ``directory``
    holds the markers and the captured ``<name>.stdout``/``<name>.stderr`` (default: a
    temp dir, removed before returning).

    If the process exits or ``timeout`` passes first, raises :class:`KillPointNotReached`
    with its output, or with ``check=False`` returns a result with ``killed=False``.
    """
    import subprocess
    import tempfile

    _check_name(name)
    own_dir = directory is None
    if directory is None:
        directory = tempfile.mkdtemp(prefix="datamill-killpoint-")
    kp = KillPoint(directory)
    kp.reset(name)
    arm = f"{name}:{count}" if count > 1 else name
    out_path = os.path.join(kp.dir, f"{name}.stdout")
    err_path = os.path.join(kp.dir, f"{name}.stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            cmd,
            env=kp.env(block=arm, base=env),
            cwd=cwd,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            shell=isinstance(cmd, str),
            start_new_session=True,
        )
    hit: Hit | None = None
    failure: KillPointNotReached | None = None
    try:
        hit = kp.wait_for(name, timeout=timeout, count=count, proc=proc)
    except KillPointNotReached as e:
        failure = e
    finally:
        if hit is None or target == "group":
            _killpg(proc.pid)  # also on failure or interruption: leave nothing behind
        elif target == "process":
            _sigkill(proc.pid)
        elif target == "hit":
            _sigkill(hit.pid)
            if hit.pid != proc.pid:
                kp.release(name)  # others blocked at the same point may go on
        else:
            _killpg(proc.pid)
            raise ValueError(f"target must be 'group', 'process' or 'hit', not {target!r}")
    _wait_unreaped(proc.pid, timeout)
    _killpg(proc.pid)  # whatever of its group is left (the unreaped leader holds the pgid)
    proc.wait()
    with open(out_path, encoding="utf-8", errors="replace") as f:
        stdout = f.read()
    with open(err_path, encoding="utf-8", errors="replace") as f:
        stderr = f.read()
    if own_dir:
        import shutil

        shutil.rmtree(kp.dir, ignore_errors=True)
    if failure is not None and check:
        raise KillPointNotReached(
            f"{failure}\n--- stdout (tail) ---\n{stdout[-4000:]}"
            f"\n--- stderr (tail) ---\n{stderr[-4000:]}"
        )
    return KilledProcess(
        cmd, proc.returncode, stdout, stderr, killed=hit is not None, pid=proc.pid, hit=hit
    )


def _sigkill(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_unreaped(pid: int, timeout: float) -> None:
    """Wait up to ``timeout`` for ``pid`` to exit, leaving it a zombie (not reaped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return
        except ChildProcessError:
            return
        time.sleep(0.005)


def _killpg(pgid: int) -> None:
    import signal

    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
