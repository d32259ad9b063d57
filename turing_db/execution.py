"""Executing one chunk of tasks with one actor: concurrently, each within its deadline.

A few worker threads pull tasks from a shared queue, so a slow task holds up no other and an instant
actor costs a queue read, not a thread hop. The cap is exact: never more than `concurrency` calls are
in flight. A task that overruns its actor's timeout is reported as [TIMEOUT] at once, but its thread
keeps its slot until the call returns (Python cannot stop a running function, and a server that is
slow must not get more load); when every slot has been held by overrunning calls for a whole
deadline, the tasks not started yet are reported as [TIMEOUT] too, so the chunk ends. While tasks are running, `while_waiting` is called every
`wait_interval` seconds (the runner extends its leases there); `on_outcome(index, outcome)` is called
as each task finishes (in the thread that finished it: keep it short), and `tick()` whenever the
waiting thread wakes — at least every 0.2 s, and after each outcome — so that the caller can store
results as they come.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence

from turing_db.actors import TIMEOUT, Actor, Outcome, Task

GRACE_SECONDS = 1.0  # an actor's own timeout (a shell kill, an HTTP timeout) fires first
STOP_POLL_SECONDS = 0.2  # how soon `stop_now()` is noticed while tasks run


def execute_chunk(
    actor: Actor,
    tasks: Sequence[Task],
    *,
    concurrency: int,
    timeout: float,
    wait_interval: float = 30.0,
    while_waiting: Callable[[list[int]], object] | None = None,
    stop_now: Callable[[], bool] = lambda: False,
    on_outcome: Callable[[int, Outcome], None] | None = None,
    tick: Callable[[], None] | None = None,
) -> list[Outcome | None]:
    """One outcome per task, in order; None for tasks not finished when `stop_now()` turned true."""
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(tasks)):
        pending.put(index)
    results: list[Outcome | None] = [None] * len(tasks)
    started: dict[int, float] = {}  # running within their deadline: index -> start
    overdue: dict[int, float] = {}  # reported as [TIMEOUT], still running: index -> when reported
    changed = threading.Condition()
    remaining = [len(tasks)]

    def pull() -> None:
        while True:
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            with changed:
                started[index] = time.monotonic()
                changed.notify_all()  # the waiter now has a deadline to watch
            outcome = actor.execute(tasks[index])
            with changed:
                if results[index] is None:  # not already reported as timed out
                    results[index] = outcome
                    remaining[0] -= 1
                    if on_outcome:
                        on_outcome(index, outcome)
                started.pop(index, None)
                overdue.pop(index, None)  # its slot is free again
                changed.notify_all()

    slots = max(1, min(concurrency, len(tasks)))
    for _ in range(slots):
        threading.Thread(target=pull, name=f"actor-{actor.name}", daemon=True).start()
    deadline = timeout + GRACE_SECONDS
    next_wait_call = time.monotonic() + wait_interval
    with changed:
        while remaining[0] > 0 and not stop_now():
            now = time.monotonic()
            for index, since in list(started.items()):
                if now - since > deadline and results[index] is None:
                    results[index] = Outcome(sentinel=TIMEOUT, error_kind="timeout", latency_ms=(now - since) * 1000,
                                             error_message=f"{actor.name} took longer than {timeout:g} s")  # fmt: skip
                    remaining[0] -= 1
                    if on_outcome:
                        on_outcome(index, results[index])  # type: ignore[arg-type]
                    del started[index]
                    overdue[index] = now  # the call keeps its slot until it returns
            if not started and len(overdue) == slots and now - max(overdue.values()) > deadline:
                while True:  # no slot came free for a whole deadline: the tasks not started end too
                    try:
                        index = pending.get_nowait()
                    except queue.Empty:
                        break
                    results[index] = Outcome(sentinel=TIMEOUT, error_kind="no_free_slot",
                                             error_message=f"{actor.name}: all {slots} slots are held by calls "
                                                           f"that overran {timeout:g} s")  # fmt: skip
                    remaining[0] -= 1
                    if on_outcome:
                        on_outcome(index, results[index])  # type: ignore[arg-type]
            if remaining[0] == 0:
                break
            if tick:
                changed.release()
                try:
                    tick()
                finally:
                    changed.acquire()
            if while_waiting and now >= next_wait_call:
                unfinished = [i for i, result in enumerate(results) if result is None]
                changed.release()
                try:
                    while_waiting(unfinished)
                finally:
                    changed.acquire()
                next_wait_call = time.monotonic() + wait_interval
            soonest = min((since + deadline for since in started.values()), default=now + wait_interval)
            wake = min(soonest, next_wait_call, time.monotonic() + STOP_POLL_SECONDS)
            changed.wait(timeout=max(0.01, wake - time.monotonic()))
    if stop_now():
        while True:  # tasks never started stay unfinished; their claims are released
            try:
                pending.get_nowait()
            except queue.Empty:
                break
    return list(results)
