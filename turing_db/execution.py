"""Executing one chunk of tasks with one actor: concurrently, each within its deadline.

A few worker threads pull tasks from a shared queue, so a slow task holds up no other and an instant
actor costs a queue read, not a thread hop. The cap is exact: never more calls in flight than `slots`
allows. A task that overruns its actor's timeout is reported as [TIMEOUT] at once, but its call keeps
its slot until it returns (Python cannot stop a running function, and a server that is slow must not
get more load); when no slot came free for a whole deadline, the tasks not started yet are reported
as [TIMEOUT] too, so the chunk ends. While tasks run, `while_waiting` is called every `wait_interval`
seconds (the runner extends its leases there), `on_outcome(index, outcome)` as each task finishes (in
the thread that finished it: keep it short), and `tick()` whenever the waiting thread wakes — at
least every 0.2 s, and after each outcome — so that the caller can store results as they come.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence

from turing_db.actors import ERROR, TIMEOUT, Actor, Outcome, Task

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
    slots: threading.Semaphore | None = None,
    more_tasks: Callable[[], Sequence[Task]] | None = None,
    start_no_more: Callable[[], bool] = lambda: False,
    thread_done: Callable[[], None] | None = None,
) -> list[Outcome | None]:
    """One outcome per task, in order; None for tasks not finished when `stop_now()` turned true (or
    when a callback raised: then no further task starts). `slots` caps the calls in flight (by default
    `concurrency`); pass the same semaphore for consecutive chunks so that an overrunning call of the
    last one still counts. `more_tasks()` is asked for more whenever every task has started while some
    still run, so that a slot is refilled as soon as it frees (the runner claims the next chunk there);
    the tasks it gives follow the others in the outcomes, and once it gives none it is not asked again.
    When `start_no_more()` turns true (a graceful stop), those added tasks that have not started stay
    unfinished (None) and the given ones still run. `thread_done()` is called in each executing
    thread as it ends, with its slot still taken (a guarded actor hands back its thread's permit)."""
    slots = slots or threading.Semaphore(concurrency)
    tasks = list(tasks)
    given = len(tasks)  # the rest came from more_tasks()
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(tasks)):
        pending.put(index)
    results: list[Outcome | None] = [None] * len(tasks)
    started: dict[int, float] = {}  # running within their deadline: index -> start
    changed = threading.Condition()
    remaining = [len(tasks)]
    cancelled = threading.Event()  # no task starts after the chunk ended or failed
    last_start = [time.monotonic()]
    pulling = [0]  # threads that will take queued tasks (started, and not ended for an empty queue)

    def finish(index: int, outcome: Outcome) -> None:  # with `changed` held
        results[index] = outcome
        remaining[0] -= 1
        if on_outcome:
            on_outcome(index, outcome)

    def pull() -> None:
        """Take a slot, run a queued task, give the slot back; until the queue is empty. With a
        `thread_done`, the slot is kept from one task to the next instead, and `thread_done()` runs
        before it is given back: what such a thread holds between its tasks (a guarded actor's
        permit) is only ever held with a slot."""
        keep_slot = thread_done is not None
        while not cancelled.is_set():
            if not slots.acquire(timeout=STOP_POLL_SECONDS):  # every slot is busy, maybe with an overrun
                continue
            more = False
            try:
                more = run_queued(keep_slot)
            finally:
                try:
                    if thread_done is not None and not more:
                        thread_done()
                finally:
                    slots.release()  # an overrunning call held its slot until it returned
            if not more:
                return

    def run_queued(until_empty: bool) -> bool:
        """Run queued tasks: one, or all of them `until_empty`; whether more may be queued."""
        while not cancelled.is_set():
            try:
                index = pending.get_nowait()
            except queue.Empty:
                with changed:  # tasks are added with `changed` held: none can slip in between
                    if pending.empty():
                        pulling[0] -= 1
                        return False
                continue
            if cancelled.is_set():
                return False
            with changed:
                if index >= given and start_no_more():  # an added task, and a stop: it stays unfinished
                    remaining[0] -= 1
                    changed.notify_all()
                    continue
                started[index] = last_start[0] = time.monotonic()
                changed.notify_all()  # the waiter now has a deadline to watch
            try:
                outcome = actor.execute(tasks[index])
            except BaseException as error:  # actors do not raise; if one does, its task still ends
                outcome = Outcome(sentinel=ERROR, error_kind=type(error).__name__,
                                  error_message=f"{actor.name} raised {type(error).__name__}")  # fmt: skip
            with changed:
                if results[index] is None:  # not already reported as timed out
                    finish(index, outcome)
                started.pop(index, None)
                changed.notify_all()
            if not until_empty:
                return True
        return False

    def not_started() -> list[int]:
        """Take every task not started yet off the queue."""
        taken = []
        while True:
            try:
                taken.append(pending.get_nowait())
            except queue.Empty:
                return taken

    def unlocked(callback: Callable[..., object], *args: object) -> None:
        """Call back without holding `changed`; if the callback fails, no further task starts (at once:
        the actor threads may win the lock many times before this thread has it again)."""
        changed.release()
        try:
            callback(*args)
        except BaseException:
            cancelled.set()
            raise
        finally:
            changed.acquire()

    def start_puller() -> None:
        threading.Thread(target=pull, name=f"actor-{actor.name}", daemon=True).start()

    def add_puller() -> None:  # with `changed` held
        pulling[0] += 1
        start_puller()

    pulling[0] = max(1, min(concurrency, len(tasks)))  # before they start: each may end at once
    for _ in range(pulling[0]):
        start_puller()
    deadline = timeout + GRACE_SECONDS
    next_wait_call = time.monotonic() + wait_interval
    try:
        with changed:
            while remaining[0] > 0 and not stop_now():
                now = time.monotonic()
                for index, since in list(started.items()):
                    if now - since > deadline and results[index] is None:
                        finish(index, Outcome(sentinel=TIMEOUT, error_kind="timeout", latency_ms=(now - since) * 1000,
                                              error_message=f"{actor.name} took longer than {timeout:g} s"))  # fmt: skip
                        del started[index]
                        add_puller()  # the overrunning call keeps its slot; this thread waits for a free one
                if not started and now - last_start[0] > deadline:
                    for index in not_started():  # no slot came free for a whole deadline: they end too
                        finish(index, Outcome(sentinel=TIMEOUT, error_kind="no_free_slot",
                                              error_message=f"{actor.name}: no free slot for {deadline:g} s: its "
                                                            f"calls in flight (at most {concurrency}) overran"))  # fmt: skip
                if remaining[0] == 0:
                    break
                if more_tasks is not None and pending.empty() and not stop_now() and not start_no_more():
                    added: list[Task] = []
                    unlocked(lambda ask=more_tasks, into=added: into.extend(ask()))
                    for task in added:
                        tasks.append(task)
                        results.append(None)
                        pending.put(len(tasks) - 1)
                    remaining[0] += len(added)
                    for _ in range(min(concurrency - pulling[0], len(added))):  # the threads pulling go on
                        add_puller()
                    if not added:
                        more_tasks = None  # nothing more: do not ask again
                if tick:
                    unlocked(tick)
                if while_waiting and now >= next_wait_call:
                    unfinished = [i for i, result in enumerate(results) if result is None]
                    unlocked(while_waiting, unfinished)
                    next_wait_call = time.monotonic() + wait_interval
                soonest = min((since + deadline for since in started.values()), default=now + wait_interval)
                wake = min(soonest, next_wait_call, time.monotonic() + STOP_POLL_SECONDS)
                changed.wait(timeout=max(0.01, wake - time.monotonic()))
    finally:
        cancelled.set()  # stopped, finished or failed: tasks never started stay unfinished
        not_started()
    return list(results)
