"""The `turing` command: provision, load postings, run, and look at the database.

Each subcommand is a thin layer over a module of the package (provisioning, postings, database,
runner, reports); errors that a user can fix are printed as one readable line and exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from turing_db import alerts, database, health, local_llm, metrics, postings, report, reports, validation
from turing_db.display import console, print_findings, print_fixes, print_summary, run_display
from turing_db.logs import configure_logging
from turing_db.pool import DatabaseUnavailable, check_connection, get_engine
from turing_db.provisioning import cluster, migrations, procedures
from turing_db.redaction import redact
from turing_db.runner import DEFAULT_CHUNK_SIZE, RunSummary, WaveBatchProcessor
from turing_db.settings import ConfigurationError, Settings, health_endpoint, load_settings

USER_ERRORS = (
    ConfigurationError,
    DatabaseUnavailable,
    cluster.ClusterError,
    migrations.MigrationFailed,
    postings.ImportRejected,
    procedures.PinnedVersionMissing,
    local_llm.LocalLLMError,
    FileNotFoundError,
    ValueError,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # by default a run logs its progress as JSON lines when nobody watches a progress bar
    level = args.log_level or ("INFO" if args.command == "run" and not sys.stderr.isatty() else "WARNING")
    configure_logging(level, None if args.log_format is None else args.log_format == "json")
    try:
        return int(args.handler(args) or 0)
    except USER_ERRORS as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        return EXIT_CANNOT_RUN
    except validation.WorkflowInvalid as exc:
        print_findings(exc.report)
        console.print("refused: an invalid workflow is not run; no posting was touched")
        return EXIT_INVALID
    except DBAPIError as exc:
        diag = getattr(exc.orig, "diag", None)
        if diag is not None and diag.sqlstate == INSUFFICIENT_PRIVILEGE:
            console.print(f"[bold red]refused:[/] {diag.message_primary}\n  {NOT_THIS_ROLE}", highlight=False,
                          soft_wrap=True)  # fmt: skip
            return EXIT_CANNOT_RUN
        if (
            diag is None
            or not diag.message_primary
            or not (diag.sqlstate or "").startswith(("P0", "55", "23", "02"))
        ):
            raise
        hint = f"\n  hint: {diag.message_hint}" if diag.message_hint else ""
        console.print(f"[bold red]refused:[/] {diag.message_primary}{hint}", highlight=False, soft_wrap=True)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turing", description="Provision, validate and run LLM batch workflows."
    )
    parser.add_argument("--log-format", choices=["json", "console"],
                        help="log lines as JSON objects or for people (default: JSON unless on a terminal)")  # fmt: skip
    parser.add_argument("--log-level", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="the least severe events logged (default: INFO for a run off a terminal, else WARNING)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace], int | None], help: str, **options: Any
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, **options)
        p.set_defaults(handler=handler)
        return p

    db = command("db", cmd_db, "start, stop or inspect the embedded PostgreSQL cluster")
    db.add_argument("action", choices=["start", "stop", "status", "url"])

    command("migrate", cmd_migrate, "apply every migration (alembic upgrade head)")

    post = command("postings", cmd_postings, "load postings, or put failed ones back in (retry)")
    post.add_argument("action", choices=["load-demo", "import", "retry"])
    post.add_argument("file", nargs="?", type=Path, help="CSV or JSON Lines file (import)")
    post.add_argument("--count", type=int, default=postings.DEFAULT_COUNT, help="demo postings to generate")
    post.add_argument("--seed", type=int, default=3001, help="seed of the demo generator")
    post.add_argument("--if-empty", action="store_true", help="load the demo only when there are no postings")
    post.add_argument("--posting", type=int, metavar="ID", help="retry: this posting")
    post.add_argument("--conversation", metavar="NAME", help="retry: the postings that failed from this step")
    post.add_argument("--all", action="store_true", help="retry: every posting that later runs leave out")

    check = command("validate", cmd_validate, "check a workflow's definition (exit 1 when it has errors)")
    check.add_argument("--workflow", type=int, required=True)
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.add_argument("--fix", "--fix-common-issues", action="store_true", dest="fix",
                       help="make the safe fixes (all or none; without it, print the SQL each would run)")  # fmt: skip

    run = command("run", cmd_run, "process the pending postings of a workflow")
    run.add_argument("--workflow", type=int, required=True)
    run.add_argument("--limit", type=int, default=None, help="at most this many postings in the run")
    run.add_argument("--workers", type=int, default=1, help="cooperating workers in this process")
    run.add_argument(
        "--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="postings claimed per chunk (at most 1000)"
    )
    run.add_argument("--join", action="store_true", help="join the workflow's active run as more workers")
    run.add_argument("--resume", type=int, metavar="RUN_ID", help="take over a run whose workers are gone")
    run.add_argument(
        "--health-port",
        type=int,
        metavar="PORT",
        help="serve GET /health on this port while the run goes (default: TURING_HEALTH_PORT)",
    )
    run.add_argument(
        "--health-host",
        metavar="HOST",
        help="the address it listens on (default: TURING_HEALTH_HOST, else 127.0.0.1)",
    )

    # every argument after `psql` is psql's own (-c, -f, -v …): this parser claims no option letters
    psql = command("psql", cmd_psql, "psql on the configured database; arguments go to psql (-c, -f …)",
                   prefix_chars="+", add_help=False)  # fmt: skip
    psql.add_argument("psql_args", nargs=argparse.REMAINDER, metavar="PSQL_ARGS")
    status = command("status", cmd_status, "postings by stage and the latest runs, or one run (--run)")
    status.add_argument("--run", type=int, metavar="RUN_ID", help="one run: progress per conversation, "
                        "throughput, workers, errors, deferred and quarantined postings")  # fmt: skip
    status.add_argument("--json", action="store_true", help="print JSON")
    prune = command("prune", cmd_prune, "delete the checkpoints, calls and replaced outputs of runs finished "
                    "long ago (the latest outputs and the runs' rows stay)")  # fmt: skip
    prune.add_argument("--older-than", type=duration, required=True, metavar="DURATION",
                       help="runs finished more than this long ago: 30d, 12w …")  # fmt: skip
    report_command = command("report", cmd_report, "write a run's report: one self-contained HTML page")
    report_command.add_argument("--run", type=int, metavar="RUN_ID", help="the run (default: the latest)")
    report_command.add_argument(
        "--out", type=Path, metavar="FILE", help="where to write it (default: report-RUN.html)"
    )
    errors = command("errors", cmd_errors, "the latest errors by actor, conversation and kind, with examples")
    errors.add_argument("--since", type=duration, metavar="DURATION",
                        help="how far back: 90s, 30m, 1h, 2d, 1w (default 1d; with --run, the whole run)")  # fmt: skip
    errors.add_argument("--run", type=int, metavar="RUN_ID", help="only this run's")
    errors.add_argument("--json", action="store_true", help="print JSON")
    health_command = command("health", cmd_health, "check the database, pg_cron, migrations and the refresh "
                             "job (exit 1 when unhealthy)")  # fmt: skip
    health_command.add_argument("--json", action="store_true", help="print what GET /health serves")

    actors = command("actors", cmd_actors, "every actor: model, breaker, calls, tokens, rate limits "
                     "(reset-breaker NAME closes a breaker by hand)")  # fmt: skip
    actors.add_argument("action", nargs="?", choices=["list", "reset-breaker"], default="list")
    actors.add_argument("name", nargs="?", help="reset-breaker: the actor's name")
    actors.add_argument("--json", action="store_true", help="list: print JSON")

    cache = command("cache", cmd_cache, "the response cache of actors whose config sets cache: true: what it "
                    "holds, per actor; clear forgets answers (every actor's, or --actor's; --expired: only those)")  # fmt: skip
    cache.add_argument("action", nargs="?", choices=["status", "clear"], default="status")
    cache.add_argument("--actor", metavar="NAME", help="clear: only the answers this actor stored")
    cache.add_argument("--expired", action="store_true", help="clear: only the answers past their expiry")
    cache.add_argument("--json", action="store_true", help="status: print JSON")

    llm = command("llm", cmd_llm, "the local model server (SmolLM2-135M on llama.cpp): start, stop, status; "
                  "use local|offline points workflow 3001's model steps at it or back")  # fmt: skip
    llm.add_argument("action", choices=["start", "stop", "status", "use"])
    llm.add_argument("mode", nargs="?", choices=["local", "offline"], help="use: which actors run 3001")
    llm.add_argument(
        "--slots", type=int, default=4, help="start: requests the server runs at once (default 4)"
    )
    llm.add_argument("--threads", type=int, help="start: CPU threads (default: one per core)")

    proc = command("procedures", cmd_procedures, "SQL objects of procedures/: digests for pins, freeze")
    proc.add_argument("action", choices=["digests", "freeze"])
    return parser


# -- handlers -------------------------------------------------------------------------------------


def cmd_db(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.embedded:
        if args.action == "url":
            print(settings.safe_url)
        else:
            console.print(
                f"an external database is configured ({settings.safe_url}): nothing to {args.action}"
            )
        return 0
    embedded = cluster.EmbeddedCluster.default()
    if args.action == "start":
        console.print(embedded.ensure_running())
    elif args.action == "stop":
        console.print(embedded.stop())
    elif args.action == "url":
        print(embedded.url().render_as_string(hide_password=True))
    else:
        state = "running" if embedded.is_running() else "stopped"
        console.print(
            f"embedded PostgreSQL is {state} (data {embedded.data_dir}, socket {embedded.socket_dir})"
        )
        return 0 if state == "running" else 1
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings, engine = _connect()
    before = migrations.current_revision(engine)
    migrations.upgrade(engine)
    after = migrations.current_revision(engine)
    if before == after:
        console.print(f"{settings.describe()} is up to date (revision {after})")
    else:
        console.print(f"{settings.describe()} migrated from {before or 'empty'} to {after}")
    return 0


def cmd_postings(args: argparse.Namespace) -> int:
    _, engine = _connect()
    if args.action == "retry":
        if args.posting is None and args.conversation is None and not args.all:
            raise ValueError("postings retry needs --posting ID, --conversation NAME or --all")
        retried = database.retry_postings(engine, args.posting, args.conversation)
        console.print(f"{retried} failed posting(s) put back: the next run routes them again")
        return 0
    if args.action == "import":
        if args.file is None:
            raise ValueError("postings import needs a FILE (.csv or .jsonl)")
        if not args.file.is_file():
            raise FileNotFoundError(f"no such file: {args.file}")
        report = postings.import_file(engine, args.file)
        console.print(report.describe(str(args.file)), highlight=False)
        return 0
    existing = database.count_postings(engine)
    if args.if_empty and existing:
        console.print(f"{existing} postings already stored: demo postings not loaded")
        return 0
    report = postings.load_demo(engine, count=args.count, seed=args.seed)
    console.print(
        f"demo postings (seed {args.seed}): {report.inserted} inserted, "
        f"{len(report.duplicates)} already present; {existing + report.inserted} postings stored"
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    _, engine = _connect()
    report = database.validate_workflow(engine, args.workflow)
    fixes: list[database.Fix] = []  # each fix answers a finding: a workflow without any needs no second look
    if report.errors or report.warnings:
        fixes = database.fix_workflow(engine, args.workflow, apply=args.fix)
        if args.fix and fixes:
            report = database.validate_workflow(engine, args.workflow)  # as the fixes left it
    if args.json:
        print(json.dumps({**report.as_json(), "fixes": [dataclasses.asdict(fix) for fix in fixes]}, indent=2))
    else:
        print_findings(report)
        print_fixes(args.workflow, fixes)
    return 0 if report.valid else 1


def cmd_run(args: argparse.Namespace) -> int:
    _, engine = _connect()
    with (
        run_display() as on_progress
    ):  # start_run() refuses an invalid workflow: main() prints WorkflowInvalid
        processor = WaveBatchProcessor(
            args.workflow,
            workers=args.workers,
            chunk_size=args.chunk_size,
            join=args.join,
            resume_run_id=args.resume,
            engine=engine,
            on_progress=on_progress,
        )
        stop_on_signals(processor)
        dispatcher = alerts.AlertDispatcher(
            engine, f"{socket.gethostname()}:{os.getpid()}", alerts.load_channels()
        )
        server = serve_health(args, engine, processor)
        dispatcher.start()
        try:
            summary = processor.run(limit=args.limit)
        except (validation.WorkflowInvalid, DBAPIError, *USER_ERRORS) as error:
            if isinstance(error, DBAPIError) and processor.run_id is not None:  # it failed while it ran
                alerts.raise_alert(engine, "run_failed", {"workflow_id": args.workflow, "workflow_run_id": processor.run_id,
                                                          "error": redact(str(error.orig or error))[:500]})  # fmt: skip
            raise  # main() says what it was, with its own status
        except Exception as error:
            console.print_exception(max_frames=5)
            console.print("the run stopped on this error; what finished is stored: `turing run` resumes")
            alerts.raise_alert(engine, "run_failed", {"workflow_id": args.workflow, "workflow_run_id": processor.run_id,
                                                      "error": redact(f"{type(error).__name__}: {error}")[:500]})  # fmt: skip
            return EXIT_WORKER_FAILED
        finally:
            if server is not None:
                server.stop()
            dispatcher.stop()  # what is waiting is delivered first
    print_summary(summary)
    return run_exit_status(summary)


LIVE_PAGE_DEADLINE_SECONDS = (
    5  # GET /: a slow database gets a page saying so, and the workers keep their pool
)
CLI_HEALTH_DEADLINE_SECONDS = 10.0  # `turing health --json` may connect to a distant server first


def serve_health(
    args: argparse.Namespace, engine: Engine, processor: WaveBatchProcessor
) -> health.HealthServer | None:
    """GET /health for this run, when a port is asked for (--health-port or TURING_HEALTH_PORT)."""
    host, port = health_endpoint()
    port = args.health_port or port
    if port is None:
        return None
    watched = lambda: health.Watched(processor.run_id, processor.worker_names)  # noqa: E731
    monitor = health.HealthMonitor(engine, migrations.head_revision(), watched)
    pages = health.OneQuestionAtATime(
        LIVE_PAGE_DEADLINE_SECONDS, name="report-page"
    )  # one pooled connection at most
    gauges = metrics.DatabaseCollector(lambda: metrics.database_snapshot(engine, processor.run_id),
                                       health.OneQuestionAtATime(name="metrics-scrape").ask)  # fmt: skip
    try:
        server = health.HealthServer(monitor, args.health_host or host, port, lambda: metrics.exposition(gauges),
                                     metrics.CONTENT_TYPE, page=lambda: pages.ask(lambda: live_report(engine, processor)))  # fmt: skip
        return server.start()
    except OSError as error:
        raise ConfigurationError(
            f"cannot serve /health on {args.health_host or host}:{port}: {error.strerror}"
        ) from None


def live_report(engine: Engine, processor: WaveBatchProcessor) -> str:
    """GET /: the running run's report, refreshing itself (a placeholder until the run has started)."""
    data = (
        None
        if processor.run_id is None
        else report.report_data(engine, processor.run_id, LIVE_PAGE_DEADLINE_SECONDS * 1000)
    )
    if data is None:
        return '<!doctype html><meta http-equiv="refresh" content="2"><title>starting</title><p>the run is starting</p>'
    return report.render(data, live=True)


# `turing run`'s exit status, for scripts and schedulers (README, "Running")
INSUFFICIENT_PRIVILEGE = "42501"
NOT_THIS_ROLE = ("the database user of TURING_DATABASE_URL may not do this: a turing_worker login runs "
                 "workflows, a turing_reader login reads reports; the rest needs the role that ran the "
                 "migrations (docs/SETUP.md, \"Roles\")")  # fmt: skip

EXIT_COMPLETED = 0  # every posting of the run finished, none failed or quarantined
EXIT_INVALID = 1  # the workflow is invalid: nothing was run (validate's findings are printed)
EXIT_CANNOT_RUN = 2  # the configuration, the database or a refusal stopped it before it ran
EXIT_FAILED_POSTINGS = 3  # the run finished, with failed or quarantined postings
EXIT_STOPPED = 4  # this process stopped (a signal) with postings left: a plain `turing run` resumes
EXIT_WORKER_FAILED = (
    5  # a worker failed with an error (printed); what finished is stored, `turing run` resumes
)


def run_exit_status(summary: RunSummary) -> int:
    if summary.pending:
        return EXIT_STOPPED
    if summary.failed or summary.quarantined:
        return EXIT_FAILED_POSTINGS
    return EXIT_COMPLETED


def stop_on_signals(processor: WaveBatchProcessor) -> None:
    """First SIGINT/SIGTERM: finish the chunks in hand and stop. Second: release them and stop now."""
    received: list[int] = []

    def handle(signum: int, frame: object) -> None:
        received.append(signum)
        abandon = len(received) > 1
        console.print(
            "stopping now: unfinished claims are released" if abandon
            else "stopping: finishing the chunks in hand (signal again to release them and stop now)"
        )  # fmt: skip
        processor.stop(abandon=abandon)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def psql_invocation(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """psql's argv and environment for `settings`: the password travels in PGPASSWORD only."""
    url = settings.url
    host = url.host or str(url.query.get("host", ""))
    port = url.port or url.query.get("port") or 5432
    argv = [
        "psql",
        "-h",
        host,
        "-p",
        str(port),
        "-U",
        url.username or "postgres",
        "-d",
        url.database or "postgres",
    ]
    env = dict(os.environ)
    if settings.password is not None:
        env["PGPASSWORD"] = settings.password.reveal()
    return argv, env


def cmd_psql(args: argparse.Namespace) -> int:
    argv, env = psql_invocation(load_settings())
    argv += args.psql_args
    os.execvpe(argv[0], argv, env)


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
EVER_SECONDS = 100 * 365 * 86400.0  # `turing errors --run ID`: however old the run


def duration(value: str) -> float:
    """`90s`, `30m`, `1h`, `2d`, `1w` in seconds (argparse's type for --since and --older-than)."""
    number, unit = value.strip()[:-1], value.strip()[-1:].lower()
    try:
        seconds = float(number) * DURATION_UNITS[unit]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration like 90s, 30m, 1h, 2d or 1w") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r}: a duration must be positive")
    return seconds


def cmd_report(args: argparse.Namespace) -> int:
    _, engine = _connect()
    run_id = args.run if args.run is not None else report.latest_run_id(engine)
    data = None if run_id is None else report.report_data(engine, run_id)
    if data is None:
        console.print(
            "[bold red]error:[/] " + (f"there is no run {run_id}" if run_id is not None else "no runs yet")
        )
        return EXIT_CANNOT_RUN
    out = args.out or Path(f"report-{run_id}.html")
    out.write_text(report.render(data), encoding="utf-8")
    console.print(f"wrote {out}: run {run_id}, {data['progress']['done']} done, {data['progress']['failed']} failed",
                  highlight=False)  # fmt: skip
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    _, engine = _connect()
    pruned = database.prune_finished_runs(engine, args.older_than)
    console.print(f"pruned {pruned['runs']} runs finished more than {args.older_than / 86400:g} days ago: "
                  f"{pruned['checkpoints']} checkpoints, {pruned['calls']} actor calls, {pruned['outputs']} "
                  f"replaced outputs, {pruned['work_rows']} work rows; {pruned['alerts']} alerts taken before then",
                  highlight=False)  # fmt: skip
    return 0


def cmd_errors(args: argparse.Namespace) -> int:
    _, engine = _connect()
    since = args.since or (EVER_SECONDS if args.run is not None else duration("1d"))
    found = database.recent_errors(engine, since, args.run)
    if args.json:
        print(health.as_json({"since_seconds": since, "run": args.run, "errors": found}))
        return 0
    if not found:
        console.print("no errors" + (f" in run {args.run}" if args.run else "") + " in that time")
        return 0
    table = Table(title="errors, most frequent first" + (f" (run {args.run})" if args.run else ""))
    for column in (
        "actor",
        "conversation",
        "kind",
        "errors",
        "last seen (UTC)",
        "example postings",
        "message",
    ):
        table.add_column(column, overflow="fold", justify="right" if column == "errors" else "left")
    for row in found:
        table.add_row(row["actor_name"], row["conversation"] or "", row["error_kind"], str(row["errors"]),
                      f"{row['last_seen']:%Y-%m-%d %H:%M:%S}", ", ".join(str(p) for p in row["example_postings"]),
                      row["example_message"] or "")  # fmt: skip
    console.print(table)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _, engine = _connect()
    if args.run is not None:
        return print_run_status(engine, args.run, args.json)
    if args.json:
        print(health.as_json({"postings": database.posting_counts(engine),
                              "runs": [{"workflow_run_id": run.workflow_run_id, "workflow_id": run.workflow_id,
                                        "status": run.status, "started_at": run.started_at,
                                        "finished_at": run.finished_at, **run.progress.__dict__}
                                       for run in database.latest_runs(engine)]}))  # fmt: skip
        return 0
    table = Table(title="postings")
    table.add_column("state")
    table.add_column("postings", justify="right")
    for state, number in database.posting_counts(engine).items():
        table.add_row(state, str(number))
    console.print(table)
    runs = database.latest_runs(engine)
    if not runs:
        console.print("no workflow runs yet")
        return 0
    runs_table = Table(title="latest runs")
    for column in ("run", "workflow", "status", "started (UTC)", "finished"):
        runs_table.add_column(column)
    for column in ("done", "failed", "quarantined", "pending"):
        runs_table.add_column(column, justify="right")
    for run in runs:
        progress = run.progress
        runs_table.add_row(
            str(run.workflow_run_id), str(run.workflow_id), run.status,
            f"{run.started_at:%Y-%m-%d %H:%M:%S}", f"{run.finished_at:%H:%M:%S}" if run.finished_at else "",
            *(str(n) for n in (progress.done, progress.failed, progress.quarantined,
                               progress.waiting + progress.claimed)),
        )  # fmt: skip
    console.print(runs_table)
    return 0


def print_run_status(engine: Engine, run_id: int, as_json: bool) -> int:
    status = database.run_status(engine, run_id)
    if status is None:
        console.print(f"[bold red]error:[/] there is no run {run_id} (`turing status` lists the latest)")
        return EXIT_CANNOT_RUN
    if as_json:
        print(health.as_json(status))
        return 0
    run, progress, speed = status["run"], status["progress"], status["throughput"]
    console.print(
        f"run {run['workflow_run_id']} of workflow {run['workflow_id']}: [bold]{run['status']}[/], "
        f"{run['seconds']:.0f} s; {progress['done']} done, {progress['failed']} failed, "
        f"{progress['quarantined']} quarantined, {progress['waiting']} waiting ({status['deferred']} deferred), "
        f"{progress['claimed']} claimed; {speed['steps']} steps, {speed['steps_per_second']} steps/s "
        f"({speed['last_minute_steps_per_second']} in the last minute)", highlight=False,
    )  # fmt: skip
    table = Table(title="conversations")
    keys = (
        "completed",
        "ended",
        "failed",
        "quarantined",
        "calls",
        "errors",
        "avg_latency_ms",
        "p95_latency_ms",
    )
    table.add_column("conversation")
    for key in keys:
        table.add_column(key.replace("_", " "), justify="right")
    for row in status["conversations"]:
        table.add_row(row["conversation"], *("" if row[key] is None else str(row[key]) for key in keys))
    console.print(table)
    workers = Table(title="workers")
    for column in ("worker", "started (UTC)", "last heartbeat", "seconds since", "stopped"):
        workers.add_column(column)
    for worker in status["workers"]:
        workers.add_row(worker["worker_id"], worker["started_at"][:19], worker["heartbeat_at"][:19],
                        str(worker["seconds_since_heartbeat"]), (worker["stopped_at"] or "")[:19])  # fmt: skip
    console.print(workers)
    for error in status["errors"]:
        console.print(f"[red]{error['errors']} × {error['error_kind']}[/] at {error['conversation']} "
                      f"({error['actor_name']}), e.g. posting {error['example_postings'][0]}: "
                      f"{error['example_message'] or ''}", highlight=False)  # fmt: skip
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    settings = load_settings()
    engine = get_engine(settings)
    if args.json:
        checked = health.HealthMonitor(
            engine, migrations.head_revision(), deadline=CLI_HEALTH_DEADLINE_SECONDS
        ).check()
        print(health.as_json(checked))
        return 0 if checked["healthy"] else 1
    checks = reports.health_checks(engine, migrations.head_revision())
    table = Table(title=f"health of {settings.describe()}")
    table.add_column("check")
    table.add_column("ok")
    table.add_column("detail")
    for check in checks:
        table.add_row(check.name, "[green]yes[/]" if check.ok else "[red]no[/]", check.detail)
    console.print(table)
    return 0 if all(check.ok for check in checks) else 1


def cmd_actors(args: argparse.Namespace) -> int:
    _, engine = _connect()
    if args.action == "reset-breaker":
        if not args.name:
            raise ValueError("actors reset-breaker needs the actor's NAME")
        left = database.reset_circuit_breaker(engine, args.name)
        console.print(f"breaker of {args.name}: " + (f"{left} → closed" if left else "closed already"))
        return 0
    actors = database.actor_overview(engine)
    if args.json:
        print(json.dumps(actors, indent=2, default=str))
        return 0
    table = Table(title="actors (calls and tokens as of the last refresh of actor_performance_summary)")
    for column in ("actor", "type", "model", "breaker", "failures", "in flight", "calls", "ok %", "tokens in",
                   "tokens out", "rate limit (left at last call)"):  # fmt: skip
        table.add_column(column, justify="right" if column in ("failures", "in flight", "calls", "ok %",
                                                               "tokens in", "tokens out") else "left")  # fmt: skip
    colours = {"closed": "green", "half_open": "yellow", "open": "red"}
    for actor in actors:
        state = actor["state"]
        cap = f"/{actor['max_concurrency']}" if actor["max_concurrency"] else ""
        table.add_row(
            actor["actor_name"], actor["actor_type"], actor["model"] or "",
            f"[{colours.get(state, 'white')}]{state}[/]" + (f" until {actor['retry_at']:%H:%M:%S}" if state == "open" else ""),
            f"{actor['failures_in_window']}/{actor['failure_threshold']}", f"{actor['calls_in_flight']}{cap}",
            str(actor["calls"]), "" if actor["success_rate_pct"] is None else f"{actor['success_rate_pct']:.1f}",
            str(actor["prompt_tokens"]), str(actor["completion_tokens"]), _headroom(actor),
        )  # fmt: skip
    console.print(table)
    if servers := _servers_table(actors, colours):
        console.print(servers)
    return 0


def _servers_table(actors: list[dict[str, Any]], colours: dict[str, str]) -> Table | None:
    """The servers of the actors that have several: each one's breaker, failures and calls in flight."""
    table = Table(title="servers (actors whose url / base_url lists several)")
    for column in ("actor", "server", "breaker", "failures", "in flight"):
        table.add_column(column, justify="right" if column in ("failures", "in flight") else "left")
    for actor in actors:
        for server in actor.get("endpoints") or []:
            state, cap = server["state"], f"/{server['max_concurrency']}" if server["max_concurrency"] else ""
            until = f" until {server['retry_at'][11:19]}" if state == "open" and server["retry_at"] else ""
            table.add_row(actor["actor_name"], server["endpoint"], f"[{colours.get(state, 'white')}]{state}[/]{until}",
                          f"{server['failures_in_window']}/{actor['failure_threshold']}",
                          f"{server['calls_in_flight']}{cap}")  # fmt: skip
    return table if table.row_count else None


def cmd_cache(args: argparse.Namespace) -> int:
    _, engine = _connect()
    if args.action == "clear":
        deleted = database.clear_response_cache(engine, args.actor, args.expired)
        which = "expired " if args.expired else ""
        console.print(
            f"forgot {deleted} {which}cached answer(s)" + (f" of {args.actor}" if args.actor else "")
        )
        return 0
    held = database.response_cache_status(engine)
    if args.json:
        print(json.dumps(held, indent=2, default=str))
        return 0
    if not held:
        console.print('the response cache is empty (an actor caches when its config sets "cache": true)')
        return 0
    table = Table(title="response cache")
    for column in ("actor", "answers", "expired", "tokens they cost", "calls answered", "newest"):
        table.add_column(column, justify="left" if column in ("actor", "newest") else "right")
    for actor in held:
        table.add_row(actor["actor_name"], str(actor["answers"]), str(actor["expired"]), str(actor["tokens"]),
                      str(actor["cached_calls"]), f"{actor['newest']:%Y-%m-%d %H:%M:%S}")  # fmt: skip
    console.print(table)
    return 0


def _headroom(actor: dict[str, Any]) -> str:
    """The actor's rate limits and what their buckets held when last touched."""
    limit = actor["rate_limit"] or {}
    parts = []
    for key, bucket, unit in (
        ("requests_per_minute", "requests_left", "req"),
        ("tokens_per_minute", "tokens_left", "tok"),
    ):
        if limit.get(key):
            left = actor[bucket]
            parts.append(f"{limit[key]} {unit}/min" + ("" if left is None else f" ({max(left, 0):.0f})"))
    return ", ".join(parts) or "unlimited"


def cmd_llm(args: argparse.Namespace) -> int:
    if args.action == "start":
        console.print(f"starting the local model server ({local_llm.MODEL_NAME}, {args.slots} slots) …")
        server = local_llm.start(args.slots, args.threads)
        loaded = "" if server.load_seconds is None else f", model loaded in {server.load_seconds:g} s"
        console.print(f"local model server at {server.base_url} (pid {server.pid}, {server.slots} slots, "
                      f"{server.threads} thread(s){loaded}); `turing llm stop` ends it", highlight=False)  # fmt: skip
    elif args.action == "stop":
        stopped = local_llm.stop()
        console.print(
            f"stopped the local model server (pid {stopped.pid})" if stopped else "no local model server runs"
        )
    elif args.action == "status":
        found = local_llm.serving()
        if found is None:
            console.print("no local model server runs (`turing llm start`)")
            return 1
        console.print(f"local model server at {found.base_url} (pid {found.pid}, {found.slots} slots)")
    else:
        if args.mode is None:
            raise ConfigurationError("say which actors 3001 uses: local (the running server) or offline")
        url = None
        if args.mode == "local":
            serving = local_llm.serving()
            if serving is None:
                raise ConfigurationError(
                    "no local model server runs: `turing llm start` (or `make llm`) first"
                )
            url = serving.base_url
        _, engine = _connect()
        for switched in database.use_llm(engine, args.mode, url):
            console.print(switched, highlight=False)
    return 0


def cmd_procedures(args: argparse.Namespace) -> int:
    if args.action == "digests":
        for name, digest in procedures.digests().items():
            print(f"{digest}  {name}")
    else:
        stored = procedures.freeze()
        console.print("\n".join(f"froze {item}" for item in stored) or "every pinned version resolves")
    return 0


def _connect() -> tuple[Settings, Engine]:
    settings = load_settings()
    engine = get_engine(settings)
    check_connection(engine, settings)
    return settings, engine


if __name__ == "__main__":
    sys.exit(main())
