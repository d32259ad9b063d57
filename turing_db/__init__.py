"""Turing DB: provision, validate and run LLM batch workflows in PostgreSQL."""

from turing_db.runner import RunSummary, WaveBatchProcessor

__all__ = ["RunSummary", "WaveBatchProcessor"]
