"""Every `turing …` and `make …` command shown in README.md and docs/*.md exists and parses: turing
commands with the CLI's own argparse parser, make targets against the Makefile's rules."""

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from turing_db.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
PLACEHOLDERS = {"FILE.html": "/tmp/x.html", "FILE": "/tmp/x", "RUN_ID": "1", "ID": "1", "N": "3001",
                "K": "4", "P": "9100", "NAME": "x"}  # fmt: skip
PLACEHOLDER = re.compile(r"\b(" + "|".join(re.escape(p) for p in PLACEHOLDERS) + r")\b")
MAKE_RULES = set(re.findall(r"^([A-Za-z0-9_][\w-]*):(?!=)", (ROOT / "Makefile").read_text(), re.M))


def _argv(command: str) -> list[str] | None:
    """The words of a shell command line if it runs turing or make, else None (shlex errors pass through)."""
    command = re.sub(r"^\$\s+", "", command.strip())
    command = re.sub(r"\[(-[^\]]*)\]", r"\1", command)  # a synopsis's optional `[--limit N]`
    command = PLACEHOLDER.sub(lambda m: PLACEHOLDERS[m.group(1)], command)
    if not re.match(r"(\.venv/bin/turing|turing|make)(\s|$)", command):
        return None
    argv = shlex.split(command, comments=True)
    return argv if len(argv) > 1 else None  # `turing` or `make` alone is prose


def commands_in(text: str) -> list[tuple[int, list[str]]]:
    """(line number, argv) of every turing/make command in shell code blocks and inline code spans."""
    found: list[tuple[int, list[str]]] = []
    prose: list[str] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        opening = re.match(r"\s*```\s*(\S*)", line)
        if opening:
            fence, line = (opening.group(1).lower() if fence is None else None), ""
        elif fence is not None:
            if fence in SHELL_FENCES and (argv := _argv(line)):
                found.append((number, argv))
            line = ""
        prose.append(line)  # fenced lines blanked: spans' line numbers stay right
    joined = "\n".join(prose)
    for span in re.finditer(r"`([^`]+)`", joined):
        if argv := _argv(span.group(1).replace("\n", " ")):
            found.append((joined.count("\n", 0, span.start()) + 1, argv))
    return sorted(found)


def problem(argv: list[str]) -> str | None:
    """Why the command would not run as shown, or None."""
    words = argv[1:]
    if argv[0] == "make":
        bad = [w for w in words if "=" not in w and not w.startswith("-") and w not in MAKE_RULES]
        return f"no Makefile rule {', '.join(bad)}" if bad else None
    if len(words) == 1:  # `turing run` in prose names the subcommand: it need not carry its arguments
        words = [words[0], "--help"]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(words)
    except SystemExit as exit:
        if exit.code:
            return (stderr.getvalue().strip().splitlines() or [f"exit {exit.code}"])[-1]
    return None


def problems(text: str, name: str = "<text>") -> list[str]:
    """`name:line: command: reason` for every doc command that does not exist or parse."""
    return [
        f"{name}:{line}: {shlex.join(argv)}: {why}"
        for line, argv in commands_in(text)
        if (why := problem(argv))
    ]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_documented_commands_exist_and_parse(doc: Path) -> None:
    bad = problems(doc.read_text(), str(doc.relative_to(ROOT)))
    assert not bad, "commands in the docs that do not run:\n" + "\n".join(bad)


def test_the_collector_finds_the_readme_commands() -> None:
    commands = commands_in((ROOT / "README.md").read_text())
    assert len(commands) >= 10, commands
    assert any(argv[:2] == ["make", "run"] for _, argv in commands)
    assert any(argv[:2] == ["turing", "run"] for _, argv in commands)


SAMPLE = """Run `make run WORKFLOW=N` or `turing run` (prose), never `turing` alone.

```bash
$ turing run --workflow N --limit N   # fine
turing frobnicate --now
make nosuchtarget LIMIT=5
```

```sql
SELECT 1; -- make nothing
```
The synopsis `turing run --workflow 3001 [--resume RUN_ID]` and `turing validate
--workflow 3001 --jsn` (a typo, across two lines).
"""


def test_commands_in_and_problems_on_a_sample() -> None:
    assert commands_in(SAMPLE) == [
        (1, ["make", "run", "WORKFLOW=3001"]),
        (1, ["turing", "run"]),
        (4, ["turing", "run", "--workflow", "3001", "--limit", "3001"]),
        (5, ["turing", "frobnicate", "--now"]),
        (6, ["make", "nosuchtarget", "LIMIT=5"]),
        (12, ["turing", "run", "--workflow", "3001", "--resume", "1"]),
        (12, ["turing", "validate", "--workflow", "3001", "--jsn"]),
    ]
    bad = problems(SAMPLE, "sample.md")
    assert [b.split(": ")[0] for b in bad] == ["sample.md:5", "sample.md:6", "sample.md:12"], bad
    assert "invalid choice: 'frobnicate'" in bad[0] and "no Makefile rule nosuchtarget" in bad[1]
    assert "unrecognized arguments: --jsn" in bad[2]
    readme = (ROOT / "README.md").read_text()
    assert len(problems(readme + "\nAlso `turing nope` and `make nope`.\n")) == len(problems(readme)) + 2
