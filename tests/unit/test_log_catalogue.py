"""Every event the code logs is listed in docs/LOGS.md (an f-string event: each of its values)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
CATALOGUE = set(re.findall(r"^\| `([^`]+)` \|", (PROJECT / "docs" / "LOGS.md").read_text(), re.M))


def logged_events() -> list[tuple[str, str]]:
    """(where, the event as a regular expression) for every log.<level>(event, …) in turing_db."""
    found = []
    for path in sorted((PROJECT / "turing_db").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "log"):  # fmt: skip
                continue
            event = node.args[0]
            if isinstance(event, ast.Constant):
                pattern = re.escape(str(event.value))
            elif isinstance(event, ast.JoinedStr):
                pattern = "".join(re.escape(part.value) if isinstance(part, ast.Constant) else r"\w+"
                                  for part in event.values)  # fmt: skip
            else:
                raise AssertionError(
                    f"{path}:{node.lineno}: an event must be a literal, not {ast.unparse(event)}"
                )
            found.append((f"{path.relative_to(PROJECT)}:{node.lineno}", pattern))
    return found


def test_every_logged_event_is_in_the_catalogue() -> None:
    events = logged_events()
    assert len(events) >= 20
    missing = [
        where for where, pattern in events if not any(re.fullmatch(pattern, name) for name in CATALOGUE)
    ]
    assert not missing, "events missing from docs/LOGS.md: " + ", ".join(missing)


def test_the_catalogue_lists_no_event_the_code_does_not_log() -> None:
    patterns = [pattern for _, pattern in logged_events()]
    stale = sorted(name for name in CATALOGUE if not any(re.fullmatch(pattern, name) for pattern in patterns))
    assert not stale, f"docs/LOGS.md lists events nothing logs: {stale}"


def test_the_log_options_choose_the_format_and_the_level(capsys) -> None:  # type: ignore[no-untyped-def]
    import structlog

    from turing_db.cli import build_parser
    from turing_db.logs import configure_logging

    args = build_parser().parse_args(["--log-format", "json", "--log-level", "debug", "status"])
    assert (args.log_format, args.log_level) == ("json", "DEBUG")
    configure_logging(args.log_level, args.log_format == "json")
    structlog.get_logger("t").debug("run started", run_id=1)
    assert '"event": "run started"' in capsys.readouterr().err
    configure_logging("WARNING", False)
    structlog.get_logger("t").info("run started", run_id=1)
    assert capsys.readouterr().err == ""
