"""Run every benchmark, print a table of figures, and write bench/results.json.

`make bench` calls this against the configured database (the embedded cluster by default).
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from bench import bench_validation
from bench.results import RESULTS_FILE, Result, write
from turing_db.db import check_connection, get_engine
from turing_db.settings import load_settings

BENCHMARKS = [bench_validation]


def main() -> int:
    settings = load_settings()
    engine = get_engine(settings)
    check_connection(engine, settings)
    results: list[Result] = []
    for benchmark in BENCHMARKS:
        results.extend(benchmark.run(engine))
    table = Table(title=f"benchmarks on {settings.describe()}")
    for column in ("name", "value", "unit", "better", "note"):
        table.add_column(column, overflow="fold")
    for result in results:
        better = "higher" if result.higher_is_better else "lower"
        table.add_row(result.name, f"{result.value:g}", result.unit, better, result.note)
    Console(width=160).print(table)
    write(results)
    print(f"wrote {RESULTS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
