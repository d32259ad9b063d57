"""Every TURING_* variable the code or a migration reads is listed, without a real value, in .env.example and docs/SETUP.md."""

from __future__ import annotations

import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
PASSED_TO_ACTORS = {"TURING_POSTING_ID"}  # what the shell actor sets for its commands, not a setting


def variables_read() -> set[str]:
    found: set[str] = set()
    for path in [*(PROJECT / "turing_db").rglob("*.py"), *(PROJECT / "alembic").rglob("*.py")]:
        found |= set(re.findall(r"[\"'](TURING_[A-Z_]+)[\"']", path.read_text()))
    return found - PASSED_TO_ACTORS


def test_every_variable_is_in_env_example_and_setup() -> None:
    example = (PROJECT / ".env.example").read_text()
    setup = (PROJECT / "docs" / "SETUP.md").read_text()
    assert len(variables_read()) >= 20
    assert not sorted(name for name in variables_read() if f"# {name}=" not in example)
    assert not sorted(name for name in variables_read() if name not in setup)


def test_env_example_sets_nothing() -> None:
    """Every assignment in it is commented out, and none holds a real-looking secret."""
    lines = (PROJECT / ".env.example").read_text().splitlines()
    assert not [line for line in lines if line.strip() and not line.startswith("#")]
    for line in lines:
        if re.match(r"# [A-Z_]*(PASSWORD|KEY|TOKEN|SECRET)[A-Z_]*=", line):
            assert line.split("=", 1)[1] in ("", "change-me"), line
