"""A processor never needs more connections than its pool has: a writer thread per worker while there
is a connection to spare, fewer (down to none) when there is not, and too many workers are refused."""

import pytest
from sqlalchemy import create_engine

from turing_db.runner import WaveBatchProcessor


def engine_with_pool(size: int):  # type: ignore[no-untyped-def]
    """An engine that is never connected: only its pool's size matters here."""
    return create_engine("postgresql+psycopg2://nobody@/nowhere", pool_size=size, max_overflow=0)


@pytest.mark.parametrize(
    ("workers", "pool", "writers"), [(1, 10, 1), (4, 10, 4), (5, 10, 5), (6, 10, 4), (10, 10, 0)]
)
def test_writers_use_only_the_connections_the_workers_leave(workers: int, pool: int, writers: int) -> None:
    processor = WaveBatchProcessor(3001, workers=workers, engine=engine_with_pool(pool))
    assert processor.writers == writers
    assert workers + processor.writers <= pool


def test_more_workers_than_connections_are_refused() -> None:
    with pytest.raises(ValueError, match="11 workers need 11 database connections, but the pool has 10"):
        WaveBatchProcessor(3001, workers=11, engine=engine_with_pool(10))
