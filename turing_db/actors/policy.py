"""The shape every actor's `retry`, `breaker`, `rate_limit` and `cache` settings must have.

The same rules, in the same words, as the SQL function `actor_policy_problems()` that
validate_workflow() applies (tests/integration/test_actor_config_rules.py runs both on shared cases);
the defaults are filled in by `actor_policy()` in SQL.
"""

from __future__ import annotations

from typing import Any

SECTION_RULES = {
    "retry": 'config.retry must be an object: {"max_attempts": a whole number 1-10, '
    '"base_seconds": >= 0, "cap_seconds": >= 0}',
    "breaker": 'config.breaker must be an object: {"failure_threshold", "success_threshold", '
    '"half_open_probes": whole numbers >= 1, "window_seconds", "reset_seconds": > 0, '
    '"on_open": "fail" or "wait", "count_rate_limits": true or false}',
    "rate_limit": 'config.rate_limit must be an object: {"requests_per_minute", "tokens_per_minute": numbers > 0}',
}
KEY_KINDS = {
    "retry": {"max_attempts": "attempts", "base_seconds": "seconds", "cap_seconds": "seconds"},
    "breaker": {
        "failure_threshold": "count",
        "success_threshold": "count",
        "half_open_probes": "count",
        "window_seconds": "period",
        "reset_seconds": "period",
        "on_open": "on_open",
        "count_rate_limits": "boolean",
    },  # fmt: skip
    "rate_limit": {"requests_per_minute": "rate", "tokens_per_minute": "rate"},
}


CACHE_RULE = "config.cache must be true or false"
CACHE_TYPE_RULE = "config.cache is for ollama and openai actors (a python or shell actor's answer depends on more than its prompt)"
CACHE_TTL_RULE = "config.cache_ttl_seconds must be a number of seconds above 0 (at most 10^9)"


def policy_problem(config: dict[str, Any], actor_type: str | None = None) -> str | None:
    """The rules the config's retry, breaker, rate_limit and cache break, joined by '; ', or None."""
    broken = [
        rule
        for section, rule in SECTION_RULES.items()
        if section in config and not _fits(config[section], KEY_KINDS[section])
    ]
    if "cache" in config and not isinstance(config["cache"], bool):
        broken.append(CACHE_RULE)
    if "cache_ttl_seconds" in config and not _is("period", config["cache_ttl_seconds"]):
        broken.append(CACHE_TTL_RULE)
    if "cache" in config and actor_type not in (None, "ollama", "openai"):
        broken.append(CACHE_TYPE_RULE)
    return "; ".join(broken) or None


def _fits(value: Any, kinds: dict[str, str]) -> bool:
    return isinstance(value, dict) and all(
        key in kinds and _is(kinds[key], item) for key, item in value.items()
    )


def _is(kind: str, value: Any) -> bool:
    if kind == "on_open":
        return value in ("fail", "wait")
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    whole = float(value).is_integer()
    return {  # the bounds of actor_policy_section_fits()
        "attempts": whole and 1 <= value <= 10,
        "count": whole and 1 <= value <= 1e6,
        "seconds": 0 <= value <= 1e9,
        "period": 0 < value <= 1e9,
        "rate": 0 < value <= 1e12,
    }[kind]
