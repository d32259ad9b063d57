"""What people see while and after a workflow runs: the progress display and the tables.

On a terminal a progress bar shows the current wave, postings finished and steps executed; elsewhere
progress becomes a JSON log line at most every five seconds. Tables are sized for a terminal, and
for 120 columns when the output goes to a log or a pipe.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as ProgressBar
from rich.table import Table

from turing_db.database import Fix, Progress
from turing_db.logs import get_logger
from turing_db.runner import RunSummary
from turing_db.validation import ValidationReport

console = Console(width=None if sys.stdout.isatty() else 120)  # logs and pipes get room for tables


def print_findings(report: ValidationReport) -> None:
    table = Table(title=f"workflow {report.workflow_id}", show_lines=False)
    for column in ("severity", "check", "conversation", "message"):
        table.add_column(column, overflow="fold")
    style = {"error": "bold red", "warning": "yellow", "ok": "green"}
    for finding in report.findings:
        table.add_row(f"[{style[finding.severity]}]{finding.severity}[/]", finding.check_name,
                      finding.conversation or "", finding.message)  # fmt: skip
    console.print(table)
    verdict = "valid" if report.valid else "INVALID"
    console.print(f"workflow {report.workflow_id} is {verdict}: {len(report.errors)} error(s), "
                  f"{len(report.warnings)} warning(s)")  # fmt: skip


def print_fixes(workflow_id: int, fixes: list[Fix]) -> None:
    """What `turing validate` can fix safely: the SQL each fix runs, or what became of it."""
    if not fixes:
        return
    if fixes[0].outcome == "would apply":
        console.print(f"{len(fixes)} safe fix(es); `turing validate --workflow {workflow_id} --fix` makes them "
                      "all in one transaction:", highlight=False)  # fmt: skip
    else:
        console.print(f"{len(fixes)} safe fix(es): {fixes[0].outcome}", highlight=False)
    for fix in fixes:
        console.print(f"  [bold]{fix.fix}[/] {fix.conversation or ''}: {fix.reason}", highlight=False)
        console.print(f"    {fix.statement};", highlight=False, markup=False, soft_wrap=True)


@contextlib.contextmanager
def run_display() -> Iterator[Callable[[Progress, str, int], None]]:
    """A progress bar on a terminal (postings finished, the current wave, steps); elsewhere a log line
    at most every 5 seconds."""
    if console.is_terminal:
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("postings · {task.fields[steps]} steps"), TimeElapsedColumn())  # fmt: skip
        with ProgressBar(*columns, console=console, transient=False) as bar:
            task = bar.add_task("starting", total=None, steps=0)

            def show(progress: Progress, wave: str, steps: int) -> None:
                bar.update(
                    task, completed=progress.finished, total=progress.total, description=wave, steps=steps
                )

            yield show
        return
    last = [0.0]

    def log_progress(progress: Progress, wave: str, steps: int) -> None:
        if time.monotonic() - last[0] >= 5 or progress.finished == progress.total:
            last[0] = time.monotonic()
            get_logger("turing_db.run").info("progress", wave=wave, steps=steps, finished=progress.finished,
                                             pending=progress.waiting + progress.claimed, total=progress.total)  # fmt: skip

    yield log_progress


def print_summary(summary: RunSummary) -> None:
    table = Table(title=f"run {summary.workflow_run_id} of workflow {summary.workflow_id}: {summary.status}",
                  box=box.SIMPLE_HEAD)  # fmt: skip
    table.add_column("conversation", no_wrap=True)
    tokens = any(row.get("completion_tokens") for row in summary.conversations)  # a model's steps
    for column in ("moved on", "ended", "failed", "quar.", "calls", "errors", "avg ms", "p95 ms",
                   *(("tokens in", "tokens out", "tok/s") if tokens else ())):  # fmt: skip
        table.add_column(column, justify="right", no_wrap=True)
    for row in summary.conversations:
        table.add_row(
            row["conversation"], *(str(row[key]) for key in ("completed", "ended", "failed", "quarantined", "calls", "errors")),
            *("" if row[key] is None else f"{row[key]:.1f}" for key in ("avg_latency_ms", "p95_latency_ms")),
            *(("" if row.get(key) is None else f"{row[key]:g}" for key in ("prompt_tokens", "completion_tokens", "tokens_per_s"))
              if tokens else ()),
        )  # fmt: skip
    console.print(table)
    loads = [row["max_load_ms"] for row in summary.conversations if row.get("max_load_ms")]
    if loads:
        console.print(f"model load: up to {max(loads):.0f} ms (as the server reported it)")
    how = "resumed" if summary.resumed else "started"
    console.print(
        f"{how} run {summary.workflow_run_id}: {summary.postings_in_run} postings — {summary.completed} completed, "
        f"{summary.failed} failed, {summary.quarantined} quarantined, {summary.pending} pending; "
        f"{summary.steps_executed} steps in {summary.elapsed_seconds:.1f} s ({summary.steps_per_second:.0f} steps/s)"
    )
    if summary.pending:
        console.print(f"the run is paused: `turing run --workflow {summary.workflow_id}` resumes it")
