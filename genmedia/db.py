"""SQL engines for genmedia's small databases (job records, A/B experiments).

A SQLite file is shared by several processes (Serve replicas, Ray tasks, the CLI): each process keeps a
small pool of its own connections (a forked child drops the parent's), writers wait for the lock instead
of failing, and WAL lets readers go on while one writes. Any other SQLAlchemy URL (PostgreSQL in production) gets a checked connection pool.
"""

from __future__ import annotations

import os
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


_SQLITE_ENGINES: dict[str, Engine] = {}
"""This process's engine per SQLite file URL."""


def _forget_engines() -> None:
    """In a forked child: the parent's pooled connections are not ours to use (or close)."""
    for engine in _SQLITE_ENGINES.values():
        engine.dispose(close=False)
    _SQLITE_ENGINES.clear()


os.register_at_fork(after_in_child=_forget_engines)


def make_engine(url: str) -> Engine:
    """An engine for ``url``, set up for sharing between processes and threads when it is a SQLite file."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url == "sqlite:///:memory:":
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 30, "check_same_thread": False})
    elif (engine := _SQLITE_ENGINES.get(url)) is not None:
        return engine
    else:
        # Opening a connection (and its pragmas) costs more than most queries: one engine per file and process,
        # keeping a few connections.
        engine = create_engine(
            url, pool_size=4, max_overflow=16, connect_args={"timeout": 30, "check_same_thread": False}
        )
        _SQLITE_ENGINES[url] = engine

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine
