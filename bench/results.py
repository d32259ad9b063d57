"""Benchmark figures: a name that stays stable across versions, a value, a unit and a direction."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_FILE = Path(__file__).resolve().parent / "results.json"


@dataclass(frozen=True)
class Result:
    name: str
    value: float
    unit: str
    higher_is_better: bool
    note: str = ""


def write(results: list[Result], path: Path = RESULTS_FILE) -> None:
    path.write_text(json.dumps([asdict(result) for result in results], indent=2) + "\n")
