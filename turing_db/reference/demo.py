"""Deterministic generator of realistic, varied job postings for demos and tests.

Postings are assembled from the hand-written occupations, skills, companies and places in
:mod:`turing_db.demo_data`; the same ``(count, seed)`` always yields the same list, and every posting in a
list is distinct even after whitespace/case normalisation.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from turing_db.reference import demo_data as data

DEFAULT_COUNT = 2000

EMPLOYMENT_TYPES: tuple[str, ...] = ("full-time", "part-time", "contract", "temporary")
_EMPLOYMENT_WEIGHTS = (64, 15, 13, 8)
SENIORITIES: tuple[str, ...] = ("junior", "mid-level", "senior", "lead")
_SENIORITY_WEIGHTS = (25, 40, 25, 10)

MIN_WORDS = 150
MAX_WORDS = 450
_SPECIAL_EVERY = 50  # one posting in 50 carries braces, quotes and percent signs
_SPECIAL_OFFSET = 25

_LEVEL_PREFIX = {"junior": "Junior ", "senior": "Senior ", "lead": "Lead "}
_LEVEL_ADJECTIVES = {
    "junior": ("motivated ", "enthusiastic ", ""),
    "mid-level": ("skilled ", "reliable ", ""),
    "senior": ("experienced ", "seasoned ", ""),
    "lead": ("experienced ", ""),
}
_SALARY_FACTOR = {"junior": 0.8, "mid-level": 1.0, "senior": 1.25, "lead": 1.45}
# Title variants that already encode a level are only used for matching seniorities.
_SENIOR_ONLY_WORDS = ("Head", "Lead", "Senior", "Principal")
_JUNIOR_ONLY_WORDS = ("Junior", "Commis", "Trainee", "Assistant")


@dataclass(frozen=True)
class DemoPosting:
    job_title: str
    company: str
    location: str
    job_description: str
    employment_type: str
    seniority: str
    source: str
    external_id: str


def generate_postings(count: int = DEFAULT_COUNT, seed: int = 3001) -> list[DemoPosting]:
    """Return ``count`` synthetic postings; identical arguments always give an identical list.

    Each posting draws from its own ``random.Random`` keyed on ``(seed, index)``, so a shorter list is a
    prefix of a longer one generated with the same seed. Occupations are dealt in shuffled rounds, so every
    occupation appears once ``count`` reaches the number of occupations.
    """
    if count < 0:
        raise ValueError(f"count must be non-negative, got {count}")
    occupations = data.OCCUPATIONS
    postings: list[DemoPosting] = []
    seen: set[tuple[str, str]] = set()
    order: list[data.Occupation] = []
    for index in range(count):
        round_no, slot = divmod(index, len(occupations))
        if slot == 0:
            order = list(occupations)
            random.Random(f"turing-demo:{seed}:round:{round_no}").shuffle(order)
        attempt = 0
        while True:
            # String seeds are hashed with SHA-512 by `random`, independent of PYTHONHASHSEED.
            rng = random.Random(f"turing-demo:{seed}:posting:{index}:{attempt}")
            special = index % _SPECIAL_EVERY == _SPECIAL_OFFSET
            posting = _build_posting(rng, order[slot], index, special)
            key = (_normalise(posting.job_title), _normalise(posting.job_description))
            # The description carries the unique job reference, so a collision should never happen;
            # resampling keeps the uniqueness guarantee even if the templates change.
            if key not in seen:
                break
            attempt += 1
        seen.add(key)
        postings.append(posting)
    return postings


def _normalise(text: str) -> str:
    """Lowercase, collapse whitespace runs to one space and strip (the uniqueness key)."""
    return " ".join(text.lower().split())


def _article(phrase: str) -> str:
    """Return ``phrase`` preceded by "a" or "an", handling acronyms such as "HR" or "SEO"."""
    word = phrase.split(" ", 1)[0]
    if len(word) > 1 and word[:2].isupper():
        vowel_sound = word[0] in "AEFHILMNORSX"
    else:
        vowel_sound = word[:1].lower() in "aeiou"
    return f"{'an' if vowel_sound else 'a'} {phrase}"


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _pick_title(rng: random.Random, occupation: data.Occupation, seniority: str) -> str:
    def allowed(title: str) -> bool:
        first = title.split(" ", 1)[0]
        if first in _SENIOR_ONLY_WORDS:
            return seniority in ("senior", "lead")
        if first in _JUNIOR_ONLY_WORDS:
            return seniority in ("junior", "mid-level")
        return True

    candidates = [title for title in occupation.titles if allowed(title)] or list(occupation.titles)
    title = rng.choice(candidates)
    prefix = _LEVEL_PREFIX.get(seniority)
    first = title.split(" ", 1)[0]
    if prefix and first not in _SENIOR_ONLY_WORDS + _JUNIOR_ONLY_WORDS and rng.random() < 0.55:
        title = prefix + title
    return title


def _title_suffix(rng: random.Random, employment: str, country: str, remote: bool, special: bool) -> str:
    if special and remote:
        return " (100% Remote)"
    if country in data.DACH and not remote and rng.random() < 0.35:
        return rng.choice((" (m/f/d)", " (m/w/d)"))
    options = {
        "part-time": (" (Part-Time)", " – Part Time"),
        "contract": (" (Contract)", " – 6-Month Contract"),
        "temporary": (" (Temporary)", " – Maternity Cover"),
    }.get(employment)
    if options and rng.random() < 0.4:
        return rng.choice(options)
    return ""


def _company_name(rng: random.Random, sector: data.Sector, place: data.Place) -> str:
    word = rng.choice(sector.company_words)
    style = rng.random()
    if style < 0.7:
        name = f"{rng.choice(data.NAME_PREFIXES)} {word}"
    elif style < 0.85:
        name = f"{rng.choice(data.SURNAMES)} {word}"
    else:
        first, second = rng.sample(data.SURNAMES, 2)
        name = f"{first} & {second}"
    if rng.random() < 0.7:
        name = f"{name} {rng.choice(data.LEGAL_SUFFIXES[place.country])}"
    return name


def _salary(rng: random.Random, occupation: data.Occupation, seniority: str, country: str | None) -> str:
    symbol, factor = data.CURRENCIES.get(country or "", ("€", 1.0))
    middle = occupation.salary_k * 1000 * _SALARY_FACTOR[seniority] * factor
    step = 10 ** max(3, len(str(int(middle))) - 2)
    low = round(middle * rng.uniform(0.86, 0.96) / step) * step
    high = max(low + step, round(middle * rng.uniform(1.04, 1.16) / step) * step)
    return f"{symbol}{low:,} – {symbol}{high:,} per year"


def _employment_detail(rng: random.Random, employment: str) -> str:
    if employment == "full-time":
        return f"Full-time, permanent ({rng.choice(('37.5', '38', '39', '40'))} hours per week)"
    if employment == "part-time":
        return f"Part-time, {rng.choice((16, 20, 24, 25, 30))} hours per week"
    if employment == "contract":
        return f"Contract, {rng.choice((3, 6, 9, 12))} months with the possibility of extension"
    return rng.choice(
        (
            f"Temporary, {rng.choice((2, 3, 4, 6))}-month assignment",
            "Temporary, 12-month maternity cover",
            "Temporary, seasonal position",
        )
    )


def _experience(rng: random.Random, seniority: str, base_title: str) -> str:
    options = {
        "junior": (
            "No previous experience is needed – full training is provided.",
            f"0–2 years as {_article(base_title)}, or a relevant qualification or apprenticeship.",
            "Ideally some work experience or an internship in a similar setting.",
        ),
        "mid-level": (
            f"At least 2–4 years of experience as {_article(base_title)} or in a similar role.",
            "3+ years of relevant experience and the confidence to work independently.",
        ),
        "senior": (
            f"5+ years of experience as {_article(base_title)}, including ownership of complex work.",
            "Several years of relevant experience and a track record of mentoring others.",
        ),
        "lead": (
            "8+ years of relevant experience, including at least 2 years leading a team.",
            "Proven experience leading and developing a team, alongside strong hands-on expertise.",
        ),
    }[seniority]
    return f"Experience: {rng.choice(options)}"


def _build_posting(rng: random.Random, occupation: data.Occupation, index: int, special: bool) -> DemoPosting:
    external_id = f"demo-{index + 1:06d}"
    seniority = rng.choices(SENIORITIES, weights=_SENIORITY_WEIGHTS)[0]
    employment = rng.choices(EMPLOYMENT_TYPES, weights=_EMPLOYMENT_WEIGHTS)[0]

    place = rng.choice(data.PLACES)
    mode = "onsite"
    if occupation.remote_ok:
        roll = rng.random()
        mode = "remote" if roll < 0.15 or (special and roll < 0.5) else "hybrid" if roll < 0.4 else "onsite"
    if mode == "remote":
        location = rng.choice(("Remote", "Remote – Europe", "Remote"))
        where = rng.choice(("", " (fully remote)"))
    elif mode == "hybrid":
        location = f"Hybrid – {place.city}"
        where = rng.choice((f" in {place.city}", f" (hybrid, {place.city})", ""))
    else:
        location = f"{place.city}, {place.country}"
        where = rng.choice((f" in {place.city}", ""))

    sector_key = rng.choice(data.CROSS_SECTOR) if occupation.sector == "cross" else occupation.sector
    sector = data.SECTORS[sector_key]
    company = _company_name(rng, sector, place)
    if special and rng.random() < 0.5:
        company = f"{rng.choice(data.SPECIAL_COMPANY_PREFIXES)} {rng.choice(sector.company_words)}"

    base_title = _pick_title(rng, occupation, seniority)
    job_title = base_title + _title_suffix(rng, employment, place.country, mode == "remote", special)

    blurb = rng.choice(data.BLURB_TEMPLATES).format(
        company=company,
        kind=_article(rng.choice(sector.kinds)),
        focus=rng.choice(sector.focus),
        year=rng.randint(1952, 2021),
        size=f"{rng.choice((rng.randint(12, 95), rng.randint(100, 950), rng.randint(1, 9) * 1000)):,}",
    )
    level = rng.choice(_LEVEL_ADJECTIVES[seniority])
    team = occupation.team
    intro = rng.choice(data.ROLE_INTROS).format(
        role=_article(f"{level}{base_title}"),
        team=team,
        where=where,
        company=company,
        manager=rng.choice((f"{team} manager", f"head of {team}")),
        enjoy=rng.choice(data.ENJOYS),
    )

    duties = rng.sample(occupation.responsibilities, rng.randint(4, min(7, len(occupation.responsibilities))))
    if seniority == "lead":
        duties.insert(
            rng.randint(0, 1),
            f"Lead a team of {rng.randint(3, 12)}, setting priorities and coaching people to grow.",
        )
    elif seniority == "senior" and rng.random() < 0.6:
        duties.insert(rng.randint(0, len(duties)), "Mentor junior colleagues and share good practice.")
    duties = duties[:7]
    skills = rng.sample(occupation.skills, rng.randint(5, min(9, len(occupation.skills))))
    nice_pool = occupation.nice_to_have + data.GENERIC_NICE
    nice = rng.sample(nice_pool, rng.randint(1, 3))
    benefit_pool = data.BENEFITS + (data.OFFICE_BENEFITS if occupation.remote_ok else data.SHIFT_BENEFITS)
    benefits = rng.sample(benefit_pool, rng.randint(3, 5))

    details = [f"Employment type: {_employment_detail(rng, employment)}", f"Location: {location}"]
    if rng.random() < 0.5:
        details.append(
            f"Salary: {_salary(rng, occupation, seniority, None if mode == 'remote' else place.country)}"
            + (" (pro rata)" if employment == "part-time" else "")
        )
    if rng.random() < 0.3:
        details.append(
            f"Start date: {rng.choice(('as soon as possible', 'flexible', 'next month', 'by agreement'))}"
        )
    reference = rng.choice(
        (
            f"Job reference: {external_id}",
            f"Reference: {external_id}",
            f"Please quote reference {external_id} when applying.",
        )
    )

    # Paragraphs are (text, optional); optional ones may be dropped to respect the length bounds.
    # Intro, role, responsibilities, skills, nice-to-have, experience, offer and details always appear.
    paragraphs: list[tuple[str, bool]] = [(blurb, False), (f"About the role\n{intro}", False)]
    if rng.random() < 0.35:
        note = rng.choice(data.TEAM_NOTES).format(n=rng.randint(4, 25))
        paragraphs.append((note, True))
    paragraphs.append((f"Responsibilities:\n{_bullets(duties)}", False))
    paragraphs.append((f"Required skills:\n{_bullets(skills)}", False))
    experience = (_experience(rng, seniority, base_title), False)
    nice_section = (f"Nice to have:\n{_bullets(nice)}", False)
    paragraphs += [nice_section, experience] if rng.random() < 0.5 else [experience, nice_section]
    if special:
        snippet = f"{rng.choice(data.BRACE_SNIPPETS)} {rng.choice(data.QUOTE_SNIPPETS)}"
        paragraphs.insert(rng.randint(2, len(paragraphs)), (snippet, False))
    paragraphs.append((f"What we offer:\n{_bullets(benefits)}", False))
    paragraphs.append(("\n".join(details), False))
    if rng.random() < 0.45:
        paragraphs.append((rng.choice(data.APPLY_NOTES), True))
    if rng.random() < 0.3:
        paragraphs.append((rng.choice(data.INCLUSION_NOTES), True))
    paragraphs.append((reference, False))

    description = _fit_length(rng, paragraphs)
    return DemoPosting(
        job_title=job_title,
        company=company,
        location=location,
        job_description=description,
        employment_type=employment,
        seniority=seniority,
        source="demo",
        external_id=external_id,
    )


def _fit_length(rng: random.Random, paragraphs: list[tuple[str, bool]]) -> str:
    """Join paragraphs, dropping optional ones or adding short notes to stay within the word bounds."""
    words = sum(len(text.split()) for text, _ in paragraphs)
    while words > MAX_WORDS:
        optional = [i for i, (_, is_optional) in enumerate(paragraphs) if is_optional]
        if not optional:
            break
        words -= len(paragraphs.pop(optional[-1])[0].split())
    if words < MIN_WORDS:
        present = {text for text, _ in paragraphs}
        fillers = [note for note in data.INCLUSION_NOTES + data.APPLY_NOTES if note not in present]
        rng.shuffle(fillers)
        while words < MIN_WORDS and fillers:
            note = fillers.pop()
            paragraphs.insert(len(paragraphs) - 1, (note, True))
            words += len(note.split())
    return "\n\n".join(text for text, _ in paragraphs)
