"""Many machines, one database: worker processes that look like separate hosts (each its own hostname,
in a UTS namespace of its own where this machine allows one) join one run against a real loopback LLM
server; no posting is claimed twice, the actor's cap holds across them, and one host killed with
kill -9 mid-run has its work taken over by the others."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings

from bench.loopback_llm import LoopbackLLM

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fresh_gates")]
W = 7651
HOSTS = ("host-a", "host-b", "host-c")
CAP = 4
TESTS_DIR = Path(__file__).resolve().parents[1]


def own_hostnames() -> bool:
    """Can a process get a hostname of its own here (a UTS namespace: root, or an unprivileged user
    namespace)?"""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--uts", "--map-root-user", "sh", "-c", "hostname probe-host && hostname"],
                           capture_output=True, text=True)  # fmt: skip
    return probe.returncode == 0 and probe.stdout.strip() == "probe-host"


def start_host(env: dict[str, str], host: str, namespaces: bool) -> subprocess.Popen[str]:
    """`turing run --join` as host `host`: in a UTS namespace with that hostname when `namespaces`
    (unshare execs the shell, which execs python: the pid is the worker's)."""
    worker = [sys.executable, "-m", "turing_db.cli", "run", "--workflow", str(W), "--join", "--chunk-size", "8",
              "--workers", "2"]  # fmt: skip
    command = (["unshare", "--uts", "--map-root-user", "sh", "-c", 'hostname "$0" && exec "$@"', host, *worker]
               if namespaces else worker)  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rows(engine: Engine, query: str, **parameters: object) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(query), parameters)]


@pytest.fixture
def llm() -> Iterator[LoopbackLLM]:
    with LoopbackLLM(latency=0.05, slots=16) as server:
        yield server


def test_hosts_share_one_run_its_cap_and_take_over_a_killed_host(
    engine: Engine, workflows: CommittedWorkflows, llm: LoopbackLLM, turing_env: dict[str, str]
) -> None:
    workflows.build(W, [Step("t_ask", entry=True)], [("t_ask", "*", None)])
    workflows.set_actor("test_python", "openai", {"base_url": llm.openai_base_url, "model": "m"}, timeout=2)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE actors SET max_concurrency = :cap WHERE actor_name = 'test_python'"), {"cap": CAP}
        )
    add_postings(engine, 240)
    namespaces = own_hostnames()
    env = {**turing_env, "PYTHONPATH": str(TESTS_DIR)}
    hosts = {host: start_host(env, host, namespaces) for host in HOSTS}
    try:
        # host-b is killed once it holds claims of its own
        deadline = time.monotonic() + 60
        held: list[tuple] = []
        while not held:
            assert time.monotonic() < deadline, "host-b never claimed"
            held = rows(engine, "SELECT posting_id, claimed_by FROM posting_work WHERE status = 'claimed' "
                                "AND claimed_by LIKE :host", host="host-b:%" if namespaces else f"%:{hosts['host-b'].pid}:%")  # fmt: skip
            time.sleep(0.02)
        hosts["host-b"].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        for host, process in hosts.items():
            out, err = process.communicate(timeout=180)
            expected = -signal.SIGKILL if host == "host-b" else 0
            assert process.returncode == expected, f"{host}: {out}{err}"
        # taken over by the idle hosts (worker_state(): 40 s without a heartbeat), not by the minutely
        # sweep, which waits for a minute-old heartbeat: not a speed target, which path took over
        assert time.monotonic() - killed < 58
    finally:
        for process in hosts.values():
            if process.poll() is None:
                process.kill()
    # every posting done, each step's result accepted once, the killed host's claims among them
    assert rows(engine, "SELECT status, count(*) FROM posting_work GROUP BY status") == [("done", 240)]
    assert rows(engine, "SELECT count(*), count(DISTINCT posting_id) FROM conversation_outputs") == [
        (240, 240)
    ]
    taken_over = [posting for posting, _ in held]
    assert rows(engine, "SELECT count(*) FROM conversation_outputs WHERE posting_id = ANY(:ids) AND NOT is_error",
                ids=taken_over) == [(len(taken_over),)]  # fmt: skip
    # one run; its workers are the three hosts' (each two threads)
    workers = [worker for (worker,) in rows(engine, "SELECT worker_id FROM run_workers")]
    assert rows(engine, "SELECT count(*) FROM workflow_runs") == [(1,)]
    assert len(workers) == 6 and len({worker.rsplit(":", 1)[0] for worker in workers}) == 3
    if namespaces:
        assert {worker.split(":", 1)[0] for worker in workers} == set(HOSTS)
    # the cap held across the hosts: the server never saw more than CAP calls at once
    assert llm.max_in_flight <= CAP, llm.max_in_flight
    # the calls repeated are at most those the killed host had in flight
    assert 240 <= llm.requests <= 240 + CAP, llm.requests
    assert rows(engine, "SELECT count(*) FROM actor_permits") == [(0,)]
