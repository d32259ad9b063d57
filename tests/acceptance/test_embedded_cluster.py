"""`make db`'s cluster: created once, reported when running, pg_cron preloaded, stopped on request."""

import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from turing_db.provisioning.cluster import EmbeddedCluster, running_as_root

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster_dir() -> Path:
    parent = Path(tempfile.mkdtemp(prefix="turing-cluster-test-"))
    parent.chmod(0o755)  # the server user must traverse it when we are root
    yield parent / "cluster"
    shutil.rmtree(parent, ignore_errors=True)


def test_cluster_is_created_started_reported_and_stopped(cluster_dir: Path) -> None:
    cluster = EmbeddedCluster(cluster_dir)
    try:
        assert cluster.ensure_running().startswith("embedded PostgreSQL created and started")
        assert cluster.ensure_running().startswith("embedded PostgreSQL is already running")
        engine = create_engine(cluster.url())
        with engine.connect() as conn:
            cron_database, database = conn.execute(
                text("SELECT current_setting('cron.database_name', true), current_database()")
            ).one()
            listen = conn.execute(text("SHOW listen_addresses")).scalar()
        engine.dispose()
        assert (cron_database, database, listen) == ("turing", "turing", "")
        if running_as_root():
            assert cluster.data_dir.owner() == "postgres"
        assert cluster.stop() == "embedded PostgreSQL stopped"
        assert not cluster.is_running()
        assert cluster.ensure_running().startswith("embedded PostgreSQL started")
    finally:
        cluster.stop()
