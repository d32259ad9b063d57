"""Static vocabulary used by :mod:`turing_db.reference.demo` to build synthetic job postings.

The hand-written words live in JSON files in ``turing_db/reference/data/`` (shipped as package data); this
module only loads them, once at import, into the frozen dataclasses, tuples and dicts below. A JSON key
is the lowercase name of the constant it fills.

- ``occupations.json``: ``OCCUPATIONS``, one object per occupation with exactly the fields of
  :class:`Occupation`; ``sector`` is a key of ``SECTORS`` or ``"cross"``.
- ``sectors.json``: ``SECTORS`` (company words, kinds and focus sentences per sector) and ``CROSS_SECTOR``,
  the sectors a ``"cross"`` occupation (HR, administration ...) is placed in, since those exist in every
  kind of company.
- ``companies.json``: ``NAME_PREFIXES``, ``SURNAMES``, ``LEGAL_SUFFIXES`` (per country) and
  ``SPECIAL_COMPANY_PREFIXES`` (names with quotes, apostrophes, braces or percent signs).
- ``places.json``: ``PLACES`` (city and country; legal suffixes and currency depend on the country),
  ``DACH`` (countries whose titles may carry "(m/f/d)") and ``CURRENCIES`` (prefix and approximate
  units per euro; countries not listed use the euro).
- ``texts.json``: ``BENEFITS``, plus ``OFFICE_BENEFITS`` / ``SHIFT_BENEFITS`` for desk-based and for
  shift-based, on-site roles; ``GENERIC_NICE``, ``ENJOYS``, ``APPLY_NOTES`` and ``INCLUSION_NOTES``;
  the ``str.format`` templates ``BLURB_TEMPLATES`` ({company} {kind} {focus} {year} {size}),
  ``ROLE_INTROS`` ({role} {team} {where} {company} {manager} {enjoy}) and ``TEAM_NOTES`` ({n}); and
  ``BRACE_SNIPPETS`` / ``QUOTE_SNIPPETS``, text that rare postings carry and downstream code must treat
  literally (braces, quotes, percent signs; never formatted).

Every JSON list becomes a tuple and order is kept: the generator draws from these with a seeded
``random.Random``, so reordering, adding or removing an entry changes the generated postings
(``tests/unit/test_demo.py`` pins them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any


@dataclass(frozen=True)
class Occupation:
    key: str
    sector: str
    titles: tuple[str, ...]
    team: str
    responsibilities: tuple[str, ...]
    skills: tuple[str, ...]
    nice_to_have: tuple[str, ...]
    remote_ok: bool = False
    salary_k: int = 40  # typical mid-level gross annual salary, thousand EUR


@dataclass(frozen=True)
class Sector:
    company_words: tuple[str, ...]
    kinds: tuple[str, ...]
    focus: tuple[str, ...]


@dataclass(frozen=True)
class Place:
    city: str
    country: str


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (files("turing_db.reference") / "data" / name).read_text(encoding="utf-8")
    )
    return document


def _frozen(fields: dict[str, Any]) -> dict[str, Any]:
    """Turn the JSON lists among a dataclass's fields into tuples."""
    return {key: tuple(value) if isinstance(value, list) else value for key, value in fields.items()}


_sectors = _load("sectors.json")
SECTORS: dict[str, Sector] = {key: Sector(**_frozen(value)) for key, value in _sectors["sectors"].items()}
CROSS_SECTOR: tuple[str, ...] = tuple(_sectors["cross_sector"])

OCCUPATIONS: tuple[Occupation, ...] = tuple(
    Occupation(**_frozen(item)) for item in _load("occupations.json")["occupations"]
)

_companies = _load("companies.json")
NAME_PREFIXES: tuple[str, ...] = tuple(_companies["name_prefixes"])
SURNAMES: tuple[str, ...] = tuple(_companies["surnames"])
LEGAL_SUFFIXES: dict[str, tuple[str, ...]] = {
    country: tuple(suffixes) for country, suffixes in _companies["legal_suffixes"].items()
}
SPECIAL_COMPANY_PREFIXES: tuple[str, ...] = tuple(_companies["special_company_prefixes"])

_places = _load("places.json")
PLACES: tuple[Place, ...] = tuple(Place(**item) for item in _places["places"])
DACH: tuple[str, ...] = tuple(_places["dach"])
CURRENCIES: dict[str, tuple[str, float]] = {
    country: (currency["symbol"], float(currency["per_eur"]))
    for country, currency in _places["currencies"].items()
}

_texts = _load("texts.json")
BENEFITS: tuple[str, ...] = tuple(_texts["benefits"])
OFFICE_BENEFITS: tuple[str, ...] = tuple(_texts["office_benefits"])
SHIFT_BENEFITS: tuple[str, ...] = tuple(_texts["shift_benefits"])
GENERIC_NICE: tuple[str, ...] = tuple(_texts["generic_nice"])
BLURB_TEMPLATES: tuple[str, ...] = tuple(_texts["blurb_templates"])
ROLE_INTROS: tuple[str, ...] = tuple(_texts["role_intros"])
ENJOYS: tuple[str, ...] = tuple(_texts["enjoys"])
TEAM_NOTES: tuple[str, ...] = tuple(_texts["team_notes"])
APPLY_NOTES: tuple[str, ...] = tuple(_texts["apply_notes"])
INCLUSION_NOTES: tuple[str, ...] = tuple(_texts["inclusion_notes"])
BRACE_SNIPPETS: tuple[str, ...] = tuple(_texts["brace_snippets"])
QUOTE_SNIPPETS: tuple[str, ...] = tuple(_texts["quote_snippets"])

del _sectors, _companies, _places, _texts
