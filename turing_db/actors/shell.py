"""The `shell` actor: runs a command (an argv list, no shell), prompt on stdin, output from stdout.

Its stdin is fed and its stdout and stderr are read at once, each on a thread of its own; stdout is
read up to MAX_READ_BYTES (16 MiB): a command that writes more is stopped (its group killed) and its
posting gets [FAILED] (`output_too_large`), so no command can fill the worker's memory.

Nothing it starts outlives its worker. The command leads its own process group, and the group is
killed on timeout and by `kill_all_running()` (the runner calls it, through
`actors.registry.abandon_all()`, when it abandons its tasks; `atexit` calls it at interpreter exit). A
worker killed with `kill -9` cannot kill anything, so two things outlive it for that moment:
- the reaper (`turing_db.actors.reaper`), one process per worker started with the first command, is
  told of each group as it starts and ends, and kills the groups still listed when the worker's end of
  its pipe closes: the command's own children (`sh -c 'a | b'`) go too;
- on Linux the command also gets a parent-death signal (`PR_SET_PDEATHSIG`, SIGKILL), which covers the
  instant between its start and the reaper hearing of it.
A group is tracked until its command ends: a background process left behind then is not killed.

The parent-death signal fires when the *thread* that forked the child ends, not the process. That is
safe here without a long-lived forking thread: `execute()` never returns while its command runs (it
waits for it, or kills the group and waits), so the forking thread outlives its child, and an
abandoned execution keeps its thread. The signal is armed in a `preexec_fn` (Python has no safer hook
for it; it costs a plain fork instead of vfork). `preexec_fn` is "not safe with threads" because the
child may need a lock that another thread held at fork time; this one touches none: it calls
`prctl()` through a function pointer resolved at import and `getppid()`, no import, no logging, no
I/O. A set-user-ID command loses the signal.

The command sees a minimal environment: the variables of `BASE_ENVIRONMENT` that are set, the names
listed in `config.env` (passed through from the worker when set), and `TURING_POSTING_ID`. A secret
must not travel to a command, so `config.env` refuses the database variables and any name containing
KEY, TOKEN, SECRET or PASSWORD. Error messages (the end of stderr) are redacted of known secrets.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from turing_db.actors import reaper
from turing_db.actors.base import (
    ERROR,
    FAILED,
    TIMEOUT,
    ActorConfigError,
    ActorSpec,
    Outcome,
    Task,
    elapsed_ms,
    failure,
)
from turing_db.redaction import is_secret_name, redact

MAX_READ_BYTES = 16 * 1024 * 1024  # what a command may write to stdout; more is [FAILED] (output_too_large)
STDERR_KEPT_BYTES = 64 * 1024  # the end of stderr, for the error message
PIPE_CHUNK = 64 * 1024
PIPE_DRAIN_SECONDS = 1.0  # after the command ended, how long its pipes are read on

COMMAND_RULE = (  # as workflow_check_actors() says
    'config.command must be a non-empty list of strings, e.g. {"command": ["python3", "script.py"]}'
)
ENV_RULE = (
    "config.env must be a list of environment variable names (letters, digits and _, not starting "
    'with a digit), e.g. {"env": ["OLLAMA_HOST"]}'
)
SECRET_ENV_RULE = (
    "config.env must not pass secrets to a command (TURING_DATABASE_URL, TURING_DB_PASSWORD, "
    "PGPASSWORD, or a name containing KEY, TOKEN, SECRET or PASSWORD)"
)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BASE_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")


class ShellActor:
    """Runs the command with the prompt on stdin; the posting's id is in $TURING_POSTING_ID.

    The command runs in its own process group; on timeout the whole group is killed, children
    included. A non-zero exit status is [ERROR] with the (redacted) end of stderr as the message.
    """

    def __init__(self, spec: ActorSpec):
        command = spec.config.get("command")
        problems = []
        if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
            problems.append(COMMAND_RULE)
        env_problem = check_env(spec.config)
        if env_problem:
            problems.append(env_problem)
        if problems:
            raise ActorConfigError(f"actor {spec.actor_name}: {'; '.join(problems)}")
        self.name = spec.actor_name
        self.command: list[str] = list(spec.config["command"])
        self.passed_through: tuple[str, ...] = tuple(spec.config.get("env", ()))
        self.timeout = float(spec.timeout_seconds)

    def execute(self, task: Task) -> Outcome:
        started = time.perf_counter()
        try:
            process = spawn(self.command, self.environment(task))
        except OSError as exc:
            return failure(ERROR, "spawn_failed", redact(f"cannot run {self.command[0]}: {exc}"), started)
        try:
            stdout, stderr, overflowed, timed_out = exchange(process, task.prompt.encode(), self.timeout)
        finally:
            _forget(process)
        if timed_out:
            return failure(TIMEOUT, "timeout", f"{self.name} took longer than {self.timeout:g} s", started)
        if overflowed:
            message = f"{self.name} wrote more than {MAX_READ_BYTES} bytes to stdout: it was stopped"
            return failure(FAILED, "output_too_large", message, started)
        if process.returncode != 0:
            tail = redact(stderr.decode(errors="replace").strip())[-400:]  # redacted before it is cut
            return failure(
                ERROR, f"exit_{process.returncode}", tail or f"exit status {process.returncode}", started
            )
        return Outcome(output=stdout.decode(errors="replace"), latency_ms=elapsed_ms(started))

    def environment(self, task: Task) -> dict[str, str]:
        """The command's whole environment: the base variables, config.env, TURING_POSTING_ID."""
        names = BASE_ENVIRONMENT + self.passed_through
        env = {name: os.environ[name] for name in names if name in os.environ}
        env["TURING_POSTING_ID"] = str(task.posting_id)
        return env


def check_env(config: dict[str, Any]) -> str | None:
    """The rule `config.env` breaks, or None; a secret name is refused, not silently dropped."""
    if "env" not in config:
        return None
    names = config["env"]
    if not isinstance(names, list) or not all(isinstance(n, str) and ENV_NAME.fullmatch(n) for n in names):
        return ENV_RULE
    secrets = [name for name in names if is_secret_name(name)]
    return f"{SECRET_ENV_RULE}: {', '.join(secrets)}" if secrets else None


# ---- every live command, so that a stopping worker can kill them all -------------------------------

_running: dict[int, subprocess.Popen[bytes]] = {}  # by pid, which is also the group id
_lock = threading.Lock()
_kills = 0  # how many times kill_all_running() ran: a command spawned meanwhile is killed too


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start `command` as the leader of a new process group that dies with this worker."""
    with _lock:
        kills_before = _kills
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
        preexec_fn=_die_with_parent(),
    )
    with _lock:
        _running[process.pid] = process
        _tell_reaper(f"+{process.pid}")
        missed = _kills != kills_before
    if missed:  # kill_all_running() ran while it was being started
        _killpg(process.pid)
    return process


def kill_all_running() -> int:
    """Kill the process group of every command still running; return how many groups were signalled.

    The executions that started them see a killed command ([ERROR], `exit_-9`) and clean up.
    """
    global _kills
    with _lock:
        _kills += 1
        pids = [pid for pid, process in _running.items() if process.returncode is None]
    return sum(_killpg(pid) for pid in pids)


def exchange(
    process: subprocess.Popen[bytes], data: bytes, timeout: float
) -> tuple[bytes, bytes, bool, bool]:
    """Feed `data` to the command's stdin while reading its stdout (at most MAX_READ_BYTES: past that
    its group is killed) and the last STDERR_KEPT_BYTES of its stderr, each on a thread of its own, so
    that no pipe can fill and stall it; its group is killed past `timeout`. Returns stdout, the end of
    stderr, whether stdout overflowed and whether it timed out."""
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    stdin, stdout, stderr = process.stdin, process.stdout, process.stderr
    out, err, overflowed = bytearray(), bytearray(), threading.Event()

    def feed() -> None:
        with contextlib.suppress(OSError):  # a command that does not read it all closes the pipe
            stdin.write(data)
        with contextlib.suppress(OSError):
            stdin.close()

    def drain_stdout() -> None:
        while chunk := os.read(stdout.fileno(), PIPE_CHUNK):
            if len(out) + len(chunk) > MAX_READ_BYTES:
                overflowed.set()
                _killpg(process.pid)
                return
            out.extend(chunk)

    def drain_stderr() -> None:
        while chunk := os.read(stderr.fileno(), PIPE_CHUNK):
            err.extend(chunk)
            del err[:-STDERR_KEPT_BYTES]

    threads = [threading.Thread(target=part, name="shell-pipe", daemon=True)
               for part in (feed, drain_stdout, drain_stderr)]  # fmt: skip
    for thread in threads:
        thread.start()
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _killpg(process.pid)
        process.wait()
    except BaseException:
        _killpg(process.pid)
        process.wait()
        raise
    for thread in threads:  # a background child outside the group may keep a pipe open: no more waits
        thread.join(timeout=PIPE_DRAIN_SECONDS)
    for pipe, thread in zip((stdout, stderr), threads[1:], strict=True):
        if not thread.is_alive():  # one still reading keeps its pipe until the child lets go of it
            pipe.close()
    return bytes(out), bytes(err), overflowed.is_set(), timed_out


def _forget(process: subprocess.Popen[bytes]) -> None:
    with _lock:
        if _running.pop(process.pid, None) is not None:
            _tell_reaper(f"-{process.pid}")


_reaper: subprocess.Popen[bytes] | None = None


def _tell_reaper(line: str) -> None:
    """Tell the reaper (started at first use) that a group started (+pgid) or ended (-pgid); under `_lock`.

    A reaper that cannot be started or has died is started again at the next line; meanwhile the
    parent-death signal is the only guard, so the command itself still runs.
    """
    global _reaper
    if _reaper is None or _reaper.poll() is not None:
        try:
            _reaper = subprocess.Popen(
                [sys.executable, "-I", reaper.__file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a terminal's signals to the worker's group miss it
            )
        except OSError:
            _reaper = None
            return
        line = "".join(f"+{pid}\n" for pid in _running) + line  # a new reaper learns every live group
    assert _reaper.stdin is not None
    try:
        _reaper.stdin.write(f"{line}\n".encode())
        _reaper.stdin.flush()
    except OSError:  # it died: the next line starts another
        _reaper = None


def _killpg(pgid: int) -> bool:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


atexit.register(kill_all_running)


# ---- the parent-death signal (Linux) ----------------------------------------------------------------

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl  # type: ignore[no-any-return]


_prctl = _load_prctl()


def _die_with_parent() -> Callable[[], None] | None:
    """The `preexec_fn` that makes the child get SIGKILL when this worker dies (None off Linux)."""
    if _prctl is None:
        return None
    return functools.partial(_set_parent_death_signal, _prctl, os.getpid(), int(signal.SIGKILL))


def _set_parent_death_signal(prctl: Callable[..., int], parent: int, signum: int) -> None:
    """Runs in the child between fork and exec: as little as possible, nothing that takes a lock."""
    prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:  # the worker died before the signal was armed
        os._exit(1)
