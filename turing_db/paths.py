"""Where the project's files are: the repository (or installed package) root that holds procedures/,
alembic/ and the embedded cluster's default folder."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
