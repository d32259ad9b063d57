"""Turing DB: provision, validate and run LLM batch workflows in PostgreSQL.

`from turing_db import WaveBatchProcessor` is the library entry point; it is imported on first use,
so that `import turing_db.settings` (and the `turing` command's start) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turing_db.runner import RunSummary, WaveBatchProcessor

__all__ = ["RunSummary", "WaveBatchProcessor"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from turing_db import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'turing_db' has no attribute {name!r}")
