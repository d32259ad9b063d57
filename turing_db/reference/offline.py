"""Offline actors of the reference workflow 3001: deterministic stand-ins for an LLM.

They let `make run WORKFLOW=3001` produce real outputs with no model server: an extractive summary,
a grader, a completeness score, and the save step's passthrough. Replace an actor's row in `actors`
(type `ollama` or `openai`) to use a real model; the workflow does not change. The first draft of
every seventh posting's summary leaves out the requirements, so the bounded grading loop runs too.
"""

from __future__ import annotations

import re
from typing import Any

SECTION = re.compile(r"^(?P<name>[A-Z][A-Za-z ]+):\s*$")
BULLET = re.compile(r"^\s*[-*•]\s+(?P<text>.+?)\s*$")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sections(description: str) -> dict[str, list[str]]:
    """The bullet lists of a posting, by heading ('Responsibilities', 'Required skills', …)."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in description.splitlines():
        heading = SECTION.match(line)
        if heading:
            current = heading["name"].strip().lower()
            continue
        bullet = BULLET.match(line)
        if bullet and current:
            found.setdefault(current, []).append(bullet["text"].rstrip("."))
    return found


def first_sentence(description: str) -> str:
    for paragraph in description.split("\n\n"):
        text = " ".join(paragraph.split())
        if text and not SECTION.match(paragraph.strip().splitlines()[0]) and not text.startswith("-"):
            if text.lower() in ("about the role",):
                continue
            return SENTENCE_END.split(text)[0]
    return ""


def summarize(prompt: str, context: dict[str, Any]) -> str:
    """An extractive summary: the role, three responsibilities, the key requirements."""
    description = str(context.get("job_description") or prompt)
    title = str(context.get("job_title") or "This role")
    company = context.get("company")
    lists = sections(description)
    role = f"{title} at {company}" if company else title
    if context.get("location"):
        role += f" ({context['location']})"
    duties = lists.get("responsibilities", [])[:3]
    required = lists.get("required skills", [])[:4]
    parts = [f"{role}."]
    if duties:
        parts.append("Main responsibilities: " + "; ".join(d[0].lower() + d[1:] for d in duties) + ".")
    else:
        parts.append(first_sentence(description))
    first_draft = int(context.get("visit") or 1) == 1
    if required and not (first_draft and int(context.get("posting_id", 0)) % 7 == 0):
        parts.append("Requires: " + ", ".join(required) + ".")
    return " ".join(part for part in parts if part)


def grade_summary(prompt: str, context: dict[str, Any]) -> str:
    """PASS when the summary names the role and states its requirements, else FAIL with the reason."""
    summary = prompt.rsplit("Summary:", 1)[-1].strip()
    title = str(context.get("job_title") or "").lower()
    title_words = [w for w in re.findall(r"[a-z]+", title) if len(w) > 3]
    if not summary:
        return "FAIL: the summary is empty"
    if title_words and not any(word in summary.lower() for word in title_words):
        return "FAIL: the summary does not name the role"
    if "Requires:" not in summary and "required skills" in str(context.get("job_description", "")).lower():
        return "FAIL: the summary leaves out the requirements"
    return "PASS"


def score_posting(prompt: str, context: dict[str, Any]) -> str:
    """How complete and clear a posting is for a candidate, 0 to 100, as a number."""
    description = str(context.get("job_description") or prompt)
    lists = sections(description)
    words = len(description.split())
    score = 20
    score += min(len(lists.get("responsibilities", [])), 6) * 5
    score += min(len(lists.get("required skills", [])), 8) * 3
    score += 10 if 150 <= words <= 600 else 0
    score += 8 if re.search(r"salary|€|£|\$|per (year|hour|month)", description, re.I) else 0
    score += 4 if lists.get("what we offer") else 0
    skills = context.get("skills")
    score += 4 if isinstance(skills, list) and skills else 0
    return str(min(score, 100))


def passthrough(prompt: str, context: dict[str, Any]) -> str:
    """The save steps: hand the rendered output on unchanged (SQL writes it to the posting)."""
    return prompt.strip()


def record_error(prompt: str, context: dict[str, Any]) -> str:
    """The global error handler: a readable account of what failed, kept as its output."""
    return (
        f"posting {context.get('posting_id')} stopped after {context.get('last_outcome') or 'an error'}"
        f" in run {context.get('workflow_run_id')}"
    )
