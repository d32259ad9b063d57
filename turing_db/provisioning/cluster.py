"""The embedded PostgreSQL cluster: a project-local server with pg_cron preloaded.

`make db` creates it under `.turing/` (socket only, trust authentication for the owner), `make db-stop`
stops it. PostgreSQL refuses to run as root, so when we are root every server binary runs through
`runuser -u postgres` and the cluster's folders belong to `postgres`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from turing_db.paths import PROJECT_DIR

DATABASE = "turing"
SUPERUSER = "turing"
PORT = 5432
MAX_SOCKET_PATH = 107
SERVER_SETTINGS = {
    "listen_addresses": "''",
    "shared_preload_libraries": "'pg_cron'",
    "cron.database_name": f"'{DATABASE}'",
    "cron.use_background_workers": "on",
    "max_worker_processes": "20",
    "unix_socket_permissions": "0700",
    "timezone": "'UTC'",
    "log_min_messages": "warning",
}


class ClusterError(Exception):
    """The embedded cluster cannot be created or started; the message says what to do."""


def postgres_bindir() -> Path:
    """The PostgreSQL server binaries: $TURING_PG_BIN, `pg_config --bindir`, or the newest Debian one."""
    if os.environ.get("TURING_PG_BIN"):
        return Path(os.environ["TURING_PG_BIN"])
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise ClusterError(
        "PostgreSQL server binaries not found: apt-get install postgresql-15 postgresql-15-cron "
        "(or set TURING_PG_BIN to the folder holding initdb and pg_ctl)"
    )


def running_as_root() -> bool:
    return os.geteuid() == 0


def as_server_user(argv: list[str]) -> list[str]:
    """Prefix a server command so that it runs as `postgres` when we are root."""
    return ["runuser", "-u", "postgres", "--", *argv] if running_as_root() else argv


def ensure_pg_cron(bindir: Path) -> None:
    """Install postgresql-NN-cron with apt-get when it is missing and we are root; else say how."""
    ensure_extension(bindir, "pg_cron", "cron")


def ensure_extension(bindir: Path, library: str, package_suffix: str) -> None:
    """Install the Debian package postgresql-NN-`package_suffix` when `library`.so is missing from
    the server's library folder and we are root; else say how (pg_cron; plpgsql_check for tests)."""
    libdir = Path(
        subprocess.run(
            [str(bindir / "pg_config"), "--pkglibdir"], capture_output=True, text=True
        ).stdout.strip()
        or bindir.parent / "lib"
    )
    if (libdir / f"{library}.so").exists():
        return
    package = f"postgresql-{bindir.parent.name}-{package_suffix}"
    if not running_as_root() or not shutil.which("apt-get"):
        raise ClusterError(f"{library} is not installed: run `sudo apt-get install -y {package}` and retry")
    print(f"installing {package} with apt-get …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", package]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)


@dataclass(frozen=True)
class EmbeddedCluster:
    """A socket-only cluster in `base_dir`: `pgdata/` holds the data, `run/` the socket, `log/` the log."""

    base_dir: Path

    @classmethod
    def default(cls) -> EmbeddedCluster:
        """`.turing/` in the project, or a folder under the temp dir when the socket path would be too
        long or when, as root, `postgres` cannot traverse the project's folders."""
        base = Path(os.environ.get("TURING_CLUSTER_DIR") or PROJECT_DIR / ".turing")
        if len(str(base / "run" / f".s.PGSQL.{PORT}")) > MAX_SOCKET_PATH or not _reachable_by_server(base):
            digest = hashlib.sha256(str(PROJECT_DIR).encode()).hexdigest()[:10]
            base = Path(tempfile.gettempdir()) / f"turing-{digest}"
        return cls(base)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "log" / "postgresql.log"

    def url(self, database: str = DATABASE) -> URL:
        return URL.create(
            "postgresql+psycopg2",
            username=SUPERUSER,
            database=database,
            query={"host": str(self.socket_dir), "port": str(PORT)},
        )

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        status = self._pg_ctl("status", check=False)
        return status.returncode == 0

    def ensure_running(self) -> str:
        """Create and start the cluster as needed; return a sentence saying what was done."""
        if self.is_running():
            return f"embedded PostgreSQL is already running (socket {self.socket_dir})"
        bindir = postgres_bindir()
        ensure_pg_cron(bindir)
        created = False
        if not self.is_initialised():
            self._initdb(bindir)
            created = True
        self._configure()
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_file))
        self._create_database(bindir)
        verb = "created and started" if created else "started"
        return f"embedded PostgreSQL {verb} (data {self.data_dir}, socket {self.socket_dir})"

    def stop(self) -> str:
        if not self.is_running():
            return "embedded PostgreSQL is not running"
        self._pg_ctl("stop", "-w", "-m", "fast")
        return "embedded PostgreSQL stopped"

    # -- steps ---------------------------------------------------------------------------------

    def _initdb(self, bindir: Path) -> None:
        for folder in (self.base_dir, self.data_dir, self.socket_dir, self.log_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)
            if running_as_root():
                shutil.chown(folder, "postgres", "postgres")
        result = subprocess.run(
            as_server_user(
                [
                    str(bindir / "initdb"),
                    "--pgdata",
                    str(self.data_dir),
                    "--username",
                    SUPERUSER,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C.UTF-8",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ClusterError(f"initdb failed:\n{result.stderr.strip()}")

    def _configure(self) -> None:
        """Write our settings to postgresql.auto.conf's sibling include file (idempotent)."""
        lines = [f"{key} = {value}" for key, value in SERVER_SETTINGS.items()]
        lines.append(f"unix_socket_directories = '{self.socket_dir}'")
        lines.append(f"port = {PORT}")
        conf = self.data_dir / "turing.conf"
        text = (
            "# written by turing_db.provisioning.cluster; edit SERVER_SETTINGS instead\n"
            + "\n".join(lines)
            + "\n"
        )
        _write_as_server(conf, text)
        main_conf = self.data_dir / "postgresql.conf"
        include = "include_if_exists = 'turing.conf'"
        if include not in main_conf.read_text():
            _write_as_server(main_conf, main_conf.read_text() + f"\n{include}\n")

    def _create_database(self, bindir: Path) -> None:
        """createdb, unless the database exists already."""
        created = subprocess.run(
            [str(bindir / "createdb"), "-h", str(self.socket_dir), "-p", str(PORT), "-U", SUPERUSER, DATABASE],
            capture_output=True, text=True,
        )  # fmt: skip
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise ClusterError(f"cannot create database {DATABASE}: {created.stderr.strip()}")

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = as_server_user([str(postgres_bindir() / "pg_ctl"), "-D", str(self.data_dir), *args])
        result = subprocess.run(argv, capture_output=True, text=True)
        if check and result.returncode != 0:
            tail = _tail(self.log_file)
            raise ClusterError(f"pg_ctl {args[0]} failed: {result.stderr.strip()}\n{tail}")
        return result


def _reachable_by_server(base: Path) -> bool:
    """As root, can `postgres` traverse every existing parent of `base`? (Always true otherwise.)"""
    if not running_as_root():
        return True
    existing = base
    while not existing.exists():
        existing = existing.parent
    probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(existing)])
    return probe.returncode == 0


def _write_as_server(path: Path, text: str) -> None:
    path.write_text(text)
    if running_as_root():
        shutil.chown(path, "postgres", "postgres")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
