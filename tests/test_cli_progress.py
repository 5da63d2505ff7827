"""`datamill copy` on a real terminal (a pseudo-terminal): the row counter ends at the rows
read and leaves no raw escape codes on screen."""

from __future__ import annotations

import os
import re
import select
import sys
import time
from pathlib import Path

import pytest

pty = pytest.importorskip("pty")

CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # well-formed control sequences rich writes


def _run_in_pty(argv: list[str], cwd: Path, timeout: float = 300) -> tuple[str, int]:
    import fcntl
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI with the pty as its terminal
        os.chdir(cwd)
        os.environ.update({"TERM": "xterm-256color", "COLUMNS": "100"})
        os.execv(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    out, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 5)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        out += data
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out.decode("utf-8", "replace"), os.waitstatus_to_exitcode(status)


def test_copy_progress_on_a_terminal(project: Path):
    n = 2005
    (project / "big.csv").write_text("id,v\n" + "".join(f"{i},{i * 0.5}\n" for i in range(n)))
    text, code = _run_in_pty([sys.executable, "-m", "datamill.cli", "copy", "big.csv",
                              "out.parquet", "--batch-size", "200"], project)
    assert code == 0, text
    plain = CSI.sub("", text)
    assert "\x1b" not in plain, repr(text[-2000:])  # no raw or escaped-as-text escape codes
    assert "[2K" not in plain and "[1A" not in plain
    frames = [f.strip() for f in re.split(r"[\r\n]+", plain) if " rows" in f and "->" not in f
              and "rows read" not in f]
    assert frames, repr(text[-2000:])
    assert frames[-1].split(" rows")[0].split()[-1] == f"{n:,}", frames[-3:]
    assert f"rows read {n:,}" in plain
