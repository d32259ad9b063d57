"""Every error message the tool raises has an entry in docs/TROUBLESHOOTING.md.

A message's key is the headline (up to the first ": " or " (") of its longest literal fragment (the
text between its placeholders), when that is at least 12 characters long; messages made only of
placeholders and short words are covered by their entry's pattern (for example `actor NAME:
PROBLEMS`) and have no key to check.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
GUIDE = (PROJECT / "docs" / "TROUBLESHOOTING.md").read_text()
USER_ERRORS = {
    "ConfigurationError",
    "DatabaseUnavailable",
    "ClusterError",
    "ActorConfigError",
    "LocalLLMError",
}
MIN_KEY = 12


def key_of(fragments: list[str]) -> str | None:
    """The longest fragment's headline: up to its first ": " or " (" (what follows is the advice)."""
    longest = max(fragments, key=len, default="")
    headline = re.split(r": | \(", longest, maxsplit=1)[0].strip(" :,.;\n")
    return headline if len(headline) >= MIN_KEY else None


def python_messages() -> list[tuple[str, str]]:
    found = []
    for path in sorted((PROJECT / "turing_db").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args):
                continue
            called = node.exc.func
            if not (isinstance(called, ast.Name) and called.id in USER_ERRORS):
                continue
            message = node.exc.args[0]
            if isinstance(message, ast.Constant) and isinstance(message.value, str):
                fragments = [message.value]
            elif isinstance(message, ast.JoinedStr):
                fragments = [part.value for part in message.values if isinstance(part, ast.Constant)]
            else:
                continue
            if key := key_of(fragments):
                found.append((f"{path.relative_to(PROJECT)}:{node.lineno}", key))
    return found


def sql_messages() -> list[tuple[str, str]]:
    found = []
    for path in sorted((PROJECT / "procedures").glob("*.sql")):
        for match in re.finditer(r"RAISE EXCEPTION '((?:[^']|'')*)'", path.read_text()):
            if key := key_of(match.group(1).replace("''", "'").split("%")):
                found.append((f"{path.relative_to(PROJECT)}", key))
    return found


def test_the_scan_finds_the_messages_it_should() -> None:
    assert len(python_messages()) >= 12 and len(sql_messages()) >= 10


def test_every_message_has_an_entry() -> None:
    missing = [f"{where}: {key!r}" for where, key in python_messages() + sql_messages() if key not in GUIDE]
    assert not missing, "messages without an entry in docs/TROUBLESHOOTING.md:\n" + "\n".join(missing)
