"""The `turing` command as a whole process, for tests."""

from __future__ import annotations

import subprocess
import sys


def turing(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `turing ARGS` with `env` (a wide terminal, so tables do not wrap); its output is captured."""
    return subprocess.run(
        [sys.executable, "-m", "turing_db.cli", *args],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
