"""The reaper: kills a dead worker's shell command groups, grandchildren included.

A worker that uses shell actors starts one reaper (`python -I reaper.py`, in a session of its own so a
terminal's Ctrl-C does not reach it) and keeps the write end of a pipe to its stdin. It writes
`+PGID` when a command group starts and `-PGID` when that command ends. When the pipe closes (the
worker exited or was killed with `kill -9`: the kernel closes its descriptors either way), the reaper
sends SIGKILL to every group still listed and exits. The parent-death signal reaches a command's
leader only; this reaches the whole group.

Standard library only and run with `-I`, so that it starts fast and nothing of the worker's
environment can change what it does.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # it ends when the pipe does, not before
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        sign, number = line[:1], line[1:].strip()
        if not number.isdigit():
            continue
        (groups.add if sign == b"+" else groups.discard)(int(number))
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":
    main()
