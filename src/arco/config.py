"""Where Arco keeps its data and how to reach its database.

Resolved from flags, then environment variables (``ARCO_*``), then defaults:
a ``.arco`` data directory in the working directory holding one SQLite file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from arco.storage.database import sqlite_url

DATA_DIR_ENV = "ARCO_DATA_DIR"
DATABASE_URL_ENV = "ARCO_DATABASE_URL"
DEFAULT_DATA_DIR = Path(".arco")


@dataclass(frozen=True)
class StoreConfig:
    data_dir: Path
    database_url: str

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def resolve_store(data_dir: Path | None = None, database_url: str | None = None) -> StoreConfig:
    directory = data_dir or Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    url = database_url or os.environ.get(DATABASE_URL_ENV) or sqlite_url(directory)
    return StoreConfig(directory, url)
