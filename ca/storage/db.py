"""Engine and unit of work. SQLite is the embedded default; PostgreSQL the production database.

SQLite transactions start with BEGIN IMMEDIATE so that two processes never both read and then
try to upgrade to a write lock (which fails with "database is locked" instead of waiting).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, readonly: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "isolation_level": None})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.execute("PRAGMA foreign_keys=ON")
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA busy_timeout=30000")

        if not readonly:
            @event.listens_for(engine, "begin")
            def _on_begin(conn):  # type: ignore[no-untyped-def]
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        # A reader runs each statement in autocommit: WAL lets it read while a writer writes.
        return engine
    # No pool_pre_ping: it costs a round trip per transaction; a dead connection fails the
    # transaction, which callers already treat as a database error.
    return create_engine(url, pool_recycle=1800)


def _sqlite_path(url: str) -> str | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix + ":memory:":
        return None
    return url[len(prefix):]


def _sqlite_lock_path(url: str) -> str | None:
    path = _sqlite_path(url)
    return None if path is None else path + ".lock"


def make_private(path: str) -> None:
    """The SQLite file holds the audit log, API-client records and officials' PIN records: mode
    0600 for it and its -wal/-shm files. It is created 0600 before SQLite opens it, since SQLite
    gives the -wal and -shm files the mode of the database file; older installs are tightened.

    An existing file is never opened here: closing any descriptor of a database file drops every
    POSIX lock this process holds on it, including those of SQLite connections already open to it
    (SQLite's "How To Corrupt An SQLite Database File", 2.2), so only chmod touches it."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for name in (path, path + "-wal", path + "-shm"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


class Database:
    """Owns the engine; ``unit_of_work()`` yields a session committed on success."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock_path = _sqlite_lock_path(url)
        if (path := _sqlite_path(url)) is not None:
            make_private(path)
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine: Engine | None = None
        self._autocommit_engine: Engine | None = None
        self._readers: sessionmaker | None = None

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        with self._writer_turn():
            session = self._sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextlib.contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """On SQLite, writers of all processes queue on an flock: the kernel wakes the next one
        at once, where SQLite's busy handler sleeps in growing steps (up to 100 ms)."""
        if self._lock_path is None:
            yield
            return
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def read_engine(self) -> Engine:
        """The engine of reads: on SQLite one whose connections never take the write lock."""
        if self._read_engine is None:
            self._read_engine = make_engine(self.url, readonly=True) if self.url.startswith("sqlite") else self.engine
        return self._read_engine

    def autocommit_engine(self) -> Engine:
        """Single-statement reads that hold no snapshot between requests (the OCSP hot path).
        On PostgreSQL an engine and pool of their own, every connection in autocommit: a
        connection switched to autocommit must never reach a unit of work, whose row locks
        (SELECT ... FOR UPDATE) would end with each statement. On SQLite, the read engine."""
        if self.url.startswith("sqlite"):
            return self.read_engine()
        if self._autocommit_engine is None:
            self._autocommit_engine = create_engine(self.url, pool_recycle=1800, isolation_level="AUTOCOMMIT")
        return self._autocommit_engine

    @contextlib.contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reads on the hot path (OCSP, repository): never takes SQLite's write lock."""
        if self._readers is None:
            self._readers = sessionmaker(self.read_engine(), expire_on_commit=False)
        session = self._readers()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._read_engine is not None and self._read_engine is not self.engine:
            self._read_engine.dispose()
        if self._autocommit_engine is not None:
            self._autocommit_engine.dispose()


def upgrade_schema(db: Database) -> None:
    """Bring the schema to the newest Alembic revision."""
    from importlib import resources

    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("ca").joinpath("migrations")))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
