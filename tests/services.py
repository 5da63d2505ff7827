"""Make sure the shared services the tests use are up: ``python tests/services.py ensure``.

Run by ``make test`` before pytest. Each service's loopback port is checked; one that is
down is started with the machine's own command (when its binary is installed), then all
are waited for (up to ``--wait`` seconds, 30 by default) and one status line is printed.
Exits 0 even if some stay down, unless ``DATAMILL_REQUIRE_SERVICES=1``: then it exits 1
naming them. Standard library only, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    binaries: tuple[str, ...]  # all must exist for the start command to be tried
    command: str  # the machine's own start command (run by /bin/sh)


SERVICES: tuple[Service, ...] = (
    Service(
        "postgres",
        5432,
        ("pg_ctlcluster",),
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    Service(
        "mariadb",
        3306,
        ("start-stop-daemon", "/usr/sbin/mariadbd"),
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    ),
    Service(
        "redis",
        6379,
        ("redis-server",),
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
        "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
    ),
    Service("rabbitmq", 5672, ("rabbitmq-server",), "rabbitmq-server -detached"),
    Service("mosquitto", 1883, ("mosquitto",), "mosquitto -d -c /etc/mosquitto/mosquitto.conf"),
    Service(
        "nats",
        4222,
        ("start-stop-daemon", "/usr/sbin/nats-server"),
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
        "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log",
    ),
)

_SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # The sbin dirs, where the daemons live, are not on every user's PATH.
    env["PATH"] = env.get("PATH", "") + ":" + _SBIN_PATH
    return env


def missing_binaries(service: Service) -> list[str]:
    path = _env()["PATH"]
    return [b for b in service.binaries if shutil.which(b, path=path) is None]


def ensure(wait: float = 30.0, quiet: bool = False) -> dict[str, str]:
    """Start what is down; return each service's state after waiting.

    States: ``up`` (was already up), ``started`` (was down, now up), ``not installed``
    (down, no binary to start it), ``down`` (start tried, still down; with the reason).
    """
    status: dict[str, str] = {}
    starting: dict[str, subprocess.Popen[str]] = {}
    for svc in SERVICES:
        if port_open(svc.port):
            status[svc.name] = "up"
            continue
        missing = missing_binaries(svc)
        if missing:
            status[svc.name] = f"not installed ({', '.join(missing)} missing)"
            continue
        # The commands daemonise, so they return; start them all at once.
        starting[svc.name] = subprocess.Popen(
            svc.command,
            shell=True,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    deadline = time.monotonic() + wait
    pending = {svc.name: svc for svc in SERVICES if svc.name in starting}
    while pending and time.monotonic() < deadline:
        for name, svc in list(pending.items()):
            if port_open(svc.port, timeout=0.2):
                status[name] = "started"
                del pending[name]
            elif starting[name].poll() not in (None, 0):
                del pending[name]  # the start command failed: no use waiting for it
        if pending:
            time.sleep(0.25)
    for name, proc in starting.items():
        try:
            out, _ = proc.communicate(timeout=max(0.5, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            out = "(start command still running)"  # left running: it may yet succeed
        if name not in status:
            last = (out or "").strip().splitlines()[-1:]
            why = f"start command exit {proc.returncode}" + (f": {last[0][:120]}" if last else "")
            if proc.returncode in (None, 0):
                why = f"not up after {wait:.0f}s; {why}"
            status[name] = f"DOWN ({why})"
    return {svc.name: status[svc.name] for svc in SERVICES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["ensure", "status"])
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait (default 30)")
    args = parser.parse_args(argv)
    if args.action == "status":
        status = {s.name: ("up" if port_open(s.port) else "down") for s in SERVICES}
    else:
        status = ensure(wait=args.wait)
    ports = {s.name: s.port for s in SERVICES}
    print("services: " + " | ".join(f"{n}:{ports[n]} {st}" for n, st in status.items()))
    down = [n for n, st in status.items() if st not in ("up", "started")]
    if down and os.environ.get("DATAMILL_REQUIRE_SERVICES") == "1":
        print(
            f"services: DATAMILL_REQUIRE_SERVICES=1 and these are not running: {', '.join(down)}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
