"""Run every benchmark on a throwaway embedded cluster, print a table, and write bench/results.json.

`make bench` calls this. The cluster is made by the same code as `make db` (PostgreSQL defaults,
fsync on, pg_cron preloaded), migrated to head, and removed afterwards, so figures do not depend on
what the project's database holds.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import make_url
from sqlalchemy.engine import Engine

from bench import bench_engine, bench_llm, bench_local_llm, bench_scale, bench_validation
from bench.results import RESULTS_FILE, Result, write
from turing_db.pool import make_engine
from turing_db.provisioning import migrations
from turing_db.provisioning.cluster import EmbeddedCluster, running_as_root
from turing_db.settings import Settings

BENCHMARKS = [bench_validation, bench_engine, bench_llm, bench_scale]
# one by name: `python -m bench.run scale`; local_llm (make bench-llm, minutes) only so
OPTIONAL = {"local_llm": bench_local_llm, "validation": bench_validation, "engine": bench_engine,
            "llm": bench_llm, "scale": bench_scale}  # fmt: skip


@contextlib.contextmanager
def scratch_database() -> Iterator[Engine]:
    parent = Path(tempfile.mkdtemp(prefix="turing-bench-"))
    parent.chmod(0o755)  # the server user must traverse it when we are root
    cluster = EmbeddedCluster(parent / "cluster")
    try:
        print(cluster.ensure_running(), flush=True)
        engine = make_engine(Settings(url=make_url(cluster.url()), embedded=True))  # the pool every run uses
        migrations.upgrade(engine)
        yield engine
        engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(parent, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    chosen = [OPTIONAL[name] for name in (sys.argv[1:] if argv is None else argv)] or BENCHMARKS
    results: list[Result] = []
    with scratch_database() as engine:
        for benchmark in chosen:
            print(f"running {benchmark.__name__} …", flush=True)
            results.extend(benchmark.run(engine))
    table = Table(
        title="benchmarks (throwaway embedded PostgreSQL 15, fsync on)"
        + (" as root" if running_as_root() else "")
    )
    for column in ("name", "value", "unit", "better", "note"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(result.name, f"{result.value:g}", result.unit, "higher" if result.higher_is_better else "lower",
                      result.note)  # fmt: skip
    Console(width=170).print(table)
    target = RESULTS_FILE if chosen is BENCHMARKS else RESULTS_FILE.with_name("results-local-llm.json")
    write(results, target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
