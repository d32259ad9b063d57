"""Python actors for test workflows (importable as `sample_actors:<name>` with tests/ on the path).

`logged_echo` appends one line per execution to the file named by TURING_TEST_LOG, so a test can count
how often each posting-step really ran; TURING_TEST_SLEEP slows it down.
"""

from __future__ import annotations

import os
import time
from typing import Any


def echo(prompt: str, context: dict[str, Any]) -> str:
    return prompt


def logged_echo(prompt: str, context: dict[str, Any]) -> str:
    time.sleep(float(os.environ.get("TURING_TEST_SLEEP", "0")))
    log = os.environ.get("TURING_TEST_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()} {context['posting_id']} {context['conversation']}\n")
    return f"done: {prompt}"


def fail(prompt: str, context: dict[str, Any]) -> str:
    raise RuntimeError("the actor broke")


def not_text(prompt: str, context: dict[str, Any]) -> Any:
    return 42


def sleepy(prompt: str, context: dict[str, Any]) -> str:
    time.sleep(5)
    return "late"


def grade_fail(prompt: str, context: dict[str, Any]) -> str:
    return "FAIL"


def slow_when_odd(prompt: str, context: dict[str, Any]) -> str:
    """Instant for even posting ids, 3 s for odd ones: a chunk that is half finished for a while."""
    if int(context["posting_id"]) % 2:
        time.sleep(3)
    return "done"


def unstorable_by_id(prompt: str, context: dict[str, Any]) -> str:
    """By posting id: a NUL byte, an unpaired surrogate, 2 MiB, an empty output, or plain text."""
    kind = int(context["posting_id"]) % 5
    return ["nul \x00 byte", "lone \ud800 surrogate", "x" * (2 * 1024 * 1024), "", "fine"][kind]


IN_FLIGHT = {"now": 0, "most": 0}
_in_flight_lock = __import__("threading").Lock()


def counted_sleep(prompt: str, context: dict[str, Any]) -> str:
    """Sleeps 1.3 s (past a 0.1 s timeout and its 1 s grace), counting the calls in flight at once."""
    with _in_flight_lock:
        IN_FLIGHT["now"] += 1
        IN_FLIGHT["most"] = max(IN_FLIGHT["most"], IN_FLIGHT["now"])
    try:
        time.sleep(1.3)
    finally:
        with _in_flight_lock:
            IN_FLIGHT["now"] -= 1
    return "late"


def leak_secret(prompt: str, context: dict[str, Any]) -> str:
    """Fails with the database password in its message, as a careless actor might."""
    raise RuntimeError(f"could not connect with password {os.environ.get('TURING_DB_PASSWORD')}")


def poison_pill(prompt: str, context: dict[str, Any]) -> str:
    """Kills its own worker process (kill -9) when given the posting named by TURING_TEST_POISON."""
    if str(context["posting_id"]) == os.environ.get("TURING_TEST_POISON"):
        os.kill(os.getpid(), 9)
    return logged_echo(prompt, context)


def nap(prompt: str, context: dict[str, Any]) -> str:
    """10 ms per call: a chunk of many takes long enough to be interrupted."""
    time.sleep(0.01)
    return prompt
