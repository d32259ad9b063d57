"""Executing a chunk: every task gets an outcome, in order, within its deadline."""

import time

from turing_db.actors import TIMEOUT, ActorSpec, Task, build_actor
from turing_db.execution import execute_chunk

TASKS = [Task(posting_id=i, prompt=f"p{i}", context={"posting_id": i}) for i in range(20)]


def test_every_task_gets_its_outcome_in_order() -> None:
    actor = build_actor(ActorSpec("a", "python", {"callable": "sample_actors:echo"}, 5))
    outcomes = execute_chunk(actor, TASKS, concurrency=4, timeout=5)
    assert [outcome.output for outcome in outcomes if outcome] == [f"p{i}" for i in range(20)]


def test_a_python_callable_that_overruns_is_a_timeout_and_holds_its_slot() -> None:
    """The overrunning call keeps its slot; when no slot comes free for a whole deadline, the tasks
    not started end as [TIMEOUT] too (the chunk ends, the server gets no more load)."""
    actor = build_actor(ActorSpec("a", "python", {"callable": "sample_actors:sleepy"}, 0.2))
    started = time.monotonic()
    outcomes = execute_chunk(actor, TASKS[:3], concurrency=1, timeout=0.2)
    assert [(o.sentinel, o.error_kind) for o in outcomes if o] == [
        (TIMEOUT, "timeout"), (TIMEOUT, "no_free_slot"), (TIMEOUT, "no_free_slot"),
    ]  # fmt: skip
    assert time.monotonic() - started < 4  # two deadlines of 0.2 s + 1 s grace, not the 5 s sleep


def test_never_more_calls_in_flight_than_the_cap_even_when_calls_time_out() -> None:
    import sample_actors

    sample_actors.IN_FLIGHT.update(now=0, most=0)
    actor = build_actor(ActorSpec("a", "python", {"callable": "sample_actors:counted_sleep"}, 0.1))
    outcomes = execute_chunk(actor, TASKS[:4], concurrency=2, timeout=0.1)
    assert all(outcome is not None and outcome.sentinel == TIMEOUT for outcome in outcomes)
    assert sample_actors.IN_FLIGHT["most"] == 2  # replacement threads for timed-out calls would add more


def test_while_waiting_is_called_with_the_unfinished_tasks() -> None:
    seen: list[list[int]] = []
    actor = build_actor(ActorSpec("s", "shell", {"command": ["sh", "-c", "sleep 0.3; cat"]}, 5))
    execute_chunk(actor, TASKS[:2], concurrency=2, timeout=5, wait_interval=0.1, while_waiting=seen.append)
    assert seen and seen[0] == [0, 1]


def test_stop_now_leaves_unstarted_tasks_unfinished() -> None:
    actor = build_actor(ActorSpec("s", "shell", {"command": ["sh", "-c", "sleep 0.2; cat"]}, 5))
    outcomes = execute_chunk(actor, TASKS[:6], concurrency=1, timeout=5, stop_now=lambda: True)
    assert outcomes.count(None) >= 5


def test_the_cap_holds_across_chunks_that_share_their_slots() -> None:
    """The next chunk's calls wait while the last chunk's overrunning calls still hold their slots."""
    import threading

    import sample_actors

    sample_actors.IN_FLIGHT.update(now=0, most=0)
    actor = build_actor(ActorSpec("a", "python", {"callable": "sample_actors:counted_sleep"}, 0.1))
    slots = threading.Semaphore(2)
    for _ in range(2):
        execute_chunk(actor, TASKS[:2], concurrency=2, timeout=0.1, slots=slots)
    assert sample_actors.IN_FLIGHT["most"] == 2


def test_a_failing_callback_starts_no_further_task() -> None:
    import sample_actors

    sample_actors.IN_FLIGHT.update(now=0, most=0)
    calls: list[int] = []
    actor = build_actor(ActorSpec("a", "python", {"callable": "sample_actors:nap"}, 5))  # 1000 x 10 ms

    def tick() -> None:
        calls.append(1)
        raise RuntimeError("the store broke")

    finished: list[int] = []
    try:
        execute_chunk(actor, TASKS * 50, concurrency=1, timeout=5, tick=tick,
                      on_outcome=lambda index, outcome: finished.append(index))  # fmt: skip
    except RuntimeError:
        pass
    else:
        raise AssertionError("the callback's failure was swallowed")
    at_failure = len(finished)
    time.sleep(0.3)
    assert calls == [1] and len(finished) <= at_failure + 1 < 1000  # the task in flight may still finish


class Timed:
    """A test actor: each call takes 50 ms; it notes when each posting's call started and ended."""

    name = "timed"

    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.ended: dict[int, float] = {}

    def execute(self, task: Task):  # type: ignore[no-untyped-def]
        from turing_db.actors import Outcome

        self.started[task.posting_id] = time.monotonic()
        time.sleep(0.05)
        self.ended[task.posting_id] = time.monotonic()
        return Outcome(output=str(task.posting_id))


def test_more_tasks_refill_the_slots_before_the_first_tasks_drain() -> None:
    actor = Timed()
    batches = [TASKS[6:12], []]
    outcomes = execute_chunk(actor, TASKS[:6], concurrency=4, timeout=5, more_tasks=lambda: batches.pop(0))
    assert [outcome.output for outcome in outcomes if outcome] == [str(i) for i in range(12)]
    assert batches == []  # asked once more after the second batch, then never again
    # tasks 4 and 5 run in the second round of the first batch: the second batch's first tasks start
    # beside them, in the slots that would otherwise idle until they end
    assert min(actor.started[i] for i in range(6, 12)) < max(actor.ended[4], actor.ended[5])


def test_a_graceful_stop_starts_none_of_the_added_tasks_and_finishes_the_given_ones() -> None:
    import threading

    actor = Timed()
    stopping = threading.Event()

    def more() -> list[Task]:
        stopping.set()  # the stop arrives as the next chunk is handed over
        return TASKS[2:6]

    outcomes = execute_chunk(actor, TASKS[:2], concurrency=2, timeout=5, more_tasks=more,
                             start_no_more=stopping.is_set)  # fmt: skip
    assert [outcome.output if outcome else None for outcome in outcomes] == ["0", "1", None, None, None, None]
    assert set(actor.started) == {0, 1}


def test_an_actor_that_raises_ends_its_task_with_an_error() -> None:
    class Raising:
        name = "raising"

        def execute(self, task: Task):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt  # not an Exception: nothing in the actor layer catches it

    outcomes = execute_chunk(Raising(), TASKS[:3], concurrency=2, timeout=float("inf"))
    assert [(o.sentinel, o.error_kind) for o in outcomes if o] == [("[ERROR]", "KeyboardInterrupt")] * 3


def test_thread_done_runs_once_in_each_thread_while_it_still_has_its_slot() -> None:
    """What a thread holds between its tasks (a guarded actor's permit) goes back before its slot does,
    so no other thread can take the slot and find the permit still held."""
    import threading

    slots = threading.Semaphore(2)
    ended: list[tuple[int, bool]] = []

    def done() -> None:
        free = slots.acquire(blocking=False)  # both slots taken while two threads end
        if free:
            slots.release()
        ended.append((threading.get_ident(), free))

    outcomes = execute_chunk(Timed(), TASKS[:6], concurrency=2, timeout=5, slots=slots, thread_done=done)
    assert all(outcomes)
    deadline = time.monotonic() + 2
    while len(ended) < 2 and time.monotonic() < deadline:  # the last thread may end after the chunk
        time.sleep(0.01)
    assert len(ended) == len({ident for ident, _ in ended}) == 2
    assert not any(free for _, free in ended[:1])  # the first to end: the other still had its slot
