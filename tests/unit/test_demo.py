"""Unit tests for the deterministic demo posting generator (no database needed)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from dataclasses import is_dataclass
from pathlib import Path

import pytest

from turing_db.reference import demo_data
from turing_db.reference.demo import DEFAULT_COUNT, DemoPosting, generate_postings

REPO_ROOT = Path(__file__).resolve().parents[2]
ALL_SKILLS = {skill for occupation in demo_data.OCCUPATIONS for skill in occupation.skills}


@pytest.fixture(scope="module")
def postings() -> list[DemoPosting]:
    return generate_postings()


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _section(description: str, heading: str) -> list[str]:
    """Return the "- " bullet items of the paragraph that starts with ``heading``."""
    paragraphs = [p for p in description.split("\n\n") if p.startswith(heading + "\n")]
    assert len(paragraphs) == 1, f"expected exactly one {heading!r} section"
    lines = paragraphs[0].split("\n")[1:]
    assert lines and all(line.startswith("- ") for line in lines)
    return [line[2:] for line in lines]


def _occupation_of(title: str) -> str | None:
    matches = [
        (len(variant), occupation.key)
        for occupation in demo_data.OCCUPATIONS
        for variant in occupation.titles
        if variant in title
    ]
    return max(matches)[1] if matches else None


def test_same_arguments_give_identical_postings(postings: list[DemoPosting]) -> None:
    assert generate_postings(DEFAULT_COUNT, 3001) == postings
    assert generate_postings(300, seed=7) == generate_postings(300, seed=7)


def test_output_is_independent_of_hash_randomisation() -> None:
    script = (
        "import hashlib; from turing_db.reference.demo import generate_postings; "
        "print(hashlib.sha256(repr(generate_postings(150, 11)).encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO_ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        digests.add(result.stdout.strip())
    expected = hashlib.sha256(repr(generate_postings(150, 11)).encode()).hexdigest()
    assert digests == {expected}


def test_generator_output_is_pinned() -> None:
    # The vocabulary moved from Python literals to turing_db/reference/data/*.json; this pin proves the move
    # changed nothing. A deliberate change of the vocabulary (or of the generator) updates the pin.
    pins = {
        (2000, 3001): "602af1aa256816ba27de325cd06b2f29007ae2295c67e5eb4941253258ce09a5",
        (150, 11): "1f3ab6f5a7214e9de6cd4644eb0ff19277ce360329fee6cbd805770b0604af1c",
    }
    for (count, seed), digest in pins.items():
        assert hashlib.sha256(repr(generate_postings(count, seed)).encode()).hexdigest() == digest


def test_vocabulary_keeps_immutable_types() -> None:
    # The loader must rebuild tuples (not JSON lists): the generator concatenates and samples them.
    for name in dir(demo_data):
        value = getattr(demo_data, name)
        if name.isupper() and not isinstance(value, dict):
            assert isinstance(value, tuple), name
            assert all(isinstance(item, str) or is_dataclass(item) for item in value), name
    for occupation in demo_data.OCCUPATIONS:
        for field in ("titles", "responsibilities", "skills", "nice_to_have"):
            assert isinstance(getattr(occupation, field), tuple), (occupation.key, field)
        assert isinstance(occupation.remote_ok, bool) and isinstance(occupation.salary_k, int)
    for sector in demo_data.SECTORS.values():
        assert all(isinstance(getattr(sector, f), tuple) for f in ("company_words", "kinds", "focus"))
    assert all(isinstance(suffixes, tuple) for suffixes in demo_data.LEGAL_SUFFIXES.values())
    for symbol, factor in demo_data.CURRENCIES.values():
        assert isinstance(symbol, str) and isinstance(factor, float)


def test_different_seed_changes_output() -> None:
    first = generate_postings(100, seed=1)
    second = generate_postings(100, seed=2)
    assert first != second
    # Not just a reshuffle of the same texts: most descriptions differ.
    shared = {p.job_description for p in first} & {p.job_description for p in second}
    assert len(shared) < 5


@pytest.mark.parametrize("count", [0, 1, 57, 2000])
def test_count_is_honoured(count: int) -> None:
    assert len(generate_postings(count)) == count


def test_default_count() -> None:
    assert DEFAULT_COUNT == 2000
    assert len(generate_postings()) == DEFAULT_COUNT


def test_negative_count_is_rejected() -> None:
    with pytest.raises(ValueError):
        generate_postings(-1)


def test_shorter_list_is_prefix_of_longer(postings: list[DemoPosting]) -> None:
    assert generate_postings(120) == postings[:120]


def test_normalised_title_description_pairs_are_unique(postings: list[DemoPosting]) -> None:
    keys = {(_normalise(p.job_title), _normalise(p.job_description)) for p in postings}
    assert len(keys) == len(postings)


def test_external_ids_are_unique_and_stable(postings: list[DemoPosting]) -> None:
    ids = [p.external_id for p in postings]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "demo-000001"
    assert ids[-1] == "demo-002000"
    assert all(p.source == "demo" for p in postings)
    assert all(p.external_id in p.job_description for p in postings)


def test_descriptions_have_required_sections_and_length(postings: list[DemoPosting]) -> None:
    for posting in postings:
        text = posting.job_description
        words = len(text.split())
        assert 150 <= words <= 450, (posting.external_id, words)
        assert "\n\n" in text
        assert "About the role\n" in text
        assert 4 <= len(_section(text, "Responsibilities:")) <= 7
        skills = _section(text, "Required skills:")
        assert 5 <= len(skills) <= 9
        assert set(skills) <= ALL_SKILLS
        assert len(set(skills)) == len(skills)
        assert 1 <= len(_section(text, "Nice to have:")) <= 3
        assert 3 <= len(_section(text, "What we offer:")) <= 5
        assert "Experience: " in text
        assert f"Location: {posting.location}" in text
        assert "Employment type: " in text


def test_required_skills_belong_to_the_posting_occupation(postings: list[DemoPosting]) -> None:
    by_key = {occupation.key: set(occupation.skills) for occupation in demo_data.OCCUPATIONS}
    for posting in postings[:300]:
        key = _occupation_of(posting.job_title)
        assert key is not None, posting.job_title
        assert set(_section(posting.job_description, "Required skills:")) <= by_key[key]


def test_many_occupations_and_titles_appear(postings: list[DemoPosting]) -> None:
    occupations = {_occupation_of(p.job_title) for p in postings}
    occupations.discard(None)
    assert len(occupations) >= 40
    assert len({p.job_title for p in postings}) >= 40
    assert len({p.company for p in postings}) >= 300


def test_fields_use_expected_vocabularies(postings: list[DemoPosting]) -> None:
    employment = Counter(p.employment_type for p in postings)
    seniority = Counter(p.seniority for p in postings)
    assert set(employment) == {"full-time", "part-time", "contract", "temporary"}
    assert set(seniority) == {"junior", "mid-level", "senior", "lead"}
    locations = {p.location for p in postings}
    cities = {loc for loc in locations if not loc.startswith(("Remote", "Hybrid"))}
    assert len(cities) >= 40
    assert "Remote" in locations
    assert any(loc.startswith("Hybrid – ") for loc in locations)


def test_some_postings_contain_literal_special_characters(postings: list[DemoPosting]) -> None:
    texts = [p.job_title + "\n" + p.company + "\n" + p.job_description for p in postings]
    with_braces = sum("{" in text and "}" in text for text in texts)
    assert 20 <= with_braces <= 100  # roughly 1 in 50
    assert sum("'" in text for text in texts) >= 20
    assert sum('"' in text for text in texts) >= 10
    assert sum("%" in text for text in texts) >= 10
    for text in texts:
        text.encode("utf-8")  # plain, encodable text


def test_occupation_data_is_well_formed() -> None:
    occupations = demo_data.OCCUPATIONS
    assert len(occupations) >= 40
    assert len({o.key for o in occupations}) == len(occupations)
    assert len({o.sector for o in occupations}) >= 12
    for occupation in occupations:
        assert 8 <= len(occupation.skills) <= 15, occupation.key
        assert len(set(occupation.skills)) == len(occupation.skills), occupation.key
        assert len(occupation.responsibilities) >= 5, occupation.key
        assert len(occupation.titles) >= 3, occupation.key
        assert occupation.sector == "cross" or occupation.sector in demo_data.SECTORS
    # No title variant is contained in another occupation's variant, so titles map back unambiguously.
    variants = [(o.key, t.lower()) for o in occupations for t in o.titles]
    for key_a, a in variants:
        for key_b, b in variants:
            assert key_a == key_b or a not in b, (a, b)
