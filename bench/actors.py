"""Actors for benchmarks: they cost nothing, so what is measured is the engine."""

from typing import Any


def instant(prompt: str, context: dict[str, Any]) -> str:
    return "ok"


def fifty_ms(prompt: str, context: dict[str, Any]) -> str:
    """A call that takes as long as the loopback LLM's (50 ms) and costs no CPU."""
    import time

    time.sleep(0.05)
    return "ok"
