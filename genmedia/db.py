"""SQL engines for genmedia's small databases (job records, A/B experiments).

A SQLite file is shared by several processes (Serve replicas, Ray tasks, the CLI): connections are
not pooled across forks, writers wait for the lock instead of failing, and WAL lets readers go on
while one writes. Any other SQLAlchemy URL (PostgreSQL in production) gets a checked connection pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of the SQLite file ``path`` (its folder is created)."""
    path = path.expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``, set up for sharing between processes and threads when it is a SQLite file."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine
