"""The `shell` actor: runs a command (an argv list, no shell), prompt on stdin, output from stdout."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from turing_db.actors.base import (
    ERROR,
    TIMEOUT,
    ActorConfigError,
    ActorSpec,
    Outcome,
    Task,
    elapsed_ms,
    failure,
)

COMMAND_RULE = (  # as workflow_check_actors() says
    'config.command must be a non-empty list of strings, e.g. {"command": ["python3", "script.py"]}'
)


class ShellActor:
    """Runs the command with the prompt on stdin; the posting's id is in $TURING_POSTING_ID.

    The command runs in its own process group; on timeout the whole group is killed, children
    included. A non-zero exit status is [ERROR] with the end of stderr as the message.
    """

    def __init__(self, spec: ActorSpec):
        command = spec.config.get("command")
        if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
            raise ActorConfigError(f"actor {spec.actor_name}: {COMMAND_RULE}")
        self.name = spec.actor_name
        self.command: list[str] = command
        self.timeout = float(spec.timeout_seconds)

    def execute(self, task: Task) -> Outcome:
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env={**os.environ, "TURING_POSTING_ID": str(task.posting_id)},
            )
        except OSError as exc:
            return failure(ERROR, "spawn_failed", f"cannot run {self.command[0]}: {exc}", started)
        try:
            stdout, stderr = process.communicate(task.prompt.encode(), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            kill_group(process)
            return failure(TIMEOUT, "timeout", f"{self.name} took longer than {self.timeout:g} s", started)
        except BaseException:
            kill_group(process)
            raise
        if process.returncode != 0:
            tail = stderr.decode(errors="replace").strip()[-400:]
            return failure(
                ERROR, f"exit_{process.returncode}", tail or f"exit status {process.returncode}", started
            )
        return Outcome(output=stdout.decode(errors="replace"), latency_ms=elapsed_ms(started))


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill a process and everything it started (it leads its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate()
