"""The key store: one shred key per group of blobs, kept apart from the database and the
blob store, so that destroying a group's key makes its blobs unreadable everywhere — in
the live store and in any copy of the blobs and the database taken before.

Three levels of keys:

* the instance master key (``ACCORD_MASTER_KEY`` or ``data_dir/master.key``, see
  :func:`accord.storage.blobs.load_master_key`) seals the keyring;
* the keyring holds the key store's master-key *versions* (random AES-256 keys); the newest
  one wraps new entries, rotation re-wraps every entry under a new version and retires the
  old ones only when no entry needs them any more;
* an entry is a group's shred key (AES-256), wrapped by one keyring version. A blob's own
  data key is wrapped by its group's shred key (:meth:`KeyStore.wrap`) and stored with the
  blob; destroying the entry (:meth:`KeyStore.destroy_group`) is the purge.

Every wrap is AES-256-GCM with the key id and version as associated data, so an entry
cannot be moved to another group or version. :class:`LocalKeyStore` keeps all of it in one
SQLite file (``data_dir/keys.sqlite`` by default) with ``secure_delete=ON`` and a rollback
journal that is deleted at each commit, so a destroyed entry's bytes are overwritten in the
file. A KMS implements :class:`KeyStore` with its own key versions.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from accord.config import Settings

MAX_GROUP_CHARS = 200


class KeyStoreError(Exception):
    """The key store cannot be opened, or an entry is missing or failed its check."""


class KeyDestroyed(KeyStoreError):
    """The group's shred key was destroyed: what it wrapped can never be read again."""

    def __init__(self, group: str) -> None:
        super().__init__(f"the key of group {group!r} was destroyed")
        self.group = group


@dataclass(frozen=True)
class MasterKeyVersion:
    version: int
    created_at: datetime
    entries: int  # shred keys wrapped by this version
    active: bool  # the newest: wraps new entries and is the target of a rotation


@dataclass(frozen=True)
class Rotation:
    target: int
    rewrapped: int
    retired: tuple[int, ...]
    resumed: bool


class KeyStore(Protocol):
    """Shred keys per group, wrapped by versioned master keys."""

    def wrap(self, group: str, data_key: bytes, aad: bytes) -> bytes:
        """``data_key`` wrapped by ``group``'s shred key (made on first use).
        Raises KeyDestroyed once the group was destroyed."""
        ...

    def unwrap(self, group: str, wrapped: bytes, aad: bytes) -> bytes:
        """The data key ``wrap`` returned; KeyDestroyed after the purge, KeyStoreError if
        the group has no key or ``wrapped``/``aad`` do not match."""
        ...

    def destroy_group(self, group: str) -> bool:
        """Destroy ``group``'s shred key for good (True if there was one). Idempotent."""
        ...

    def is_destroyed(self, group: str) -> bool: ...

    def versions(self) -> list[MasterKeyVersion]:
        """The keyring, oldest first, with the number of entries each version wraps."""
        ...

    def begin_rotation(self) -> tuple[int, bool]:
        """The version a rotation re-wraps into, and whether it resumes an unfinished one
        (a new version otherwise; new entries are wrapped by it from now on)."""
        ...

    def pending(self, target: int) -> int:
        """Entries still wrapped by a version older than ``target``."""
        ...

    def rewrap(self, target: int, limit: int) -> int:
        """Re-wrap up to ``limit`` older entries under ``target`` in one committed step;
        the number done (0: none left)."""
        ...

    def retire(self, target: int) -> tuple[int, ...]:
        """Remove every version older than ``target`` from the keyring; KeyStoreError
        while an entry still needs one."""
        ...


def rotate(store: KeyStore, *, batch: int = 500,
           progress: Callable[[int, int], None] | None = None) -> Rotation:
    """Re-wrap every entry under a new master-key version (or finish an interrupted
    rotation), then retire the old versions. Streams ``batch`` entries at a time; each
    batch is committed, so a killed run loses at most one batch and the next run goes on.
    ``progress(done, total)`` is called after each batch."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    target, resumed = store.begin_rotation()
    total = store.pending(target)
    done = 0
    if progress:
        progress(0, total)
    while n := store.rewrap(target, batch):
        done += n
        if progress:
            progress(done, max(total, done))
    retired = store.retire(target)
    return Rotation(target=target, rewrapped=done, retired=retired, resumed=resumed)


def derive(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"accord:{purpose}".encode()).derive(master)


def check_group(group: str) -> str:
    if (not isinstance(group, str) or not group or len(group) > MAX_GROUP_CHARS
            or not group.isprintable()):
        raise ValueError(f"not a group id: {group!r}")
    return group


def _seal(key: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + key.encrypt(nonce, plaintext, aad)


def _open(key: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    return key.decrypt(sealed[:12], sealed[12:], aad)


def _keyring_aad(version: int) -> bytes:
    return f"accord:keyring:v{version}".encode()


def _entry_aad(group: str, version: int) -> bytes:
    return f"accord:shred-key:v{version}:{group}".encode()


def _data_aad(group: str, aad: bytes) -> bytes:
    return b"accord:data-key:" + group.encode() + b"\n" + aad


def _now() -> str:
    return datetime.now(UTC).isoformat()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS keyring (
    version INTEGER PRIMARY KEY,
    sealed BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shred_keys (
    grp TEXT PRIMARY KEY,
    version INTEGER NOT NULL REFERENCES keyring (version),
    wrapped BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS shred_keys_version ON shred_keys (version);
CREATE TABLE IF NOT EXISTS shredded (
    grp TEXT PRIMARY KEY,
    destroyed_at TEXT NOT NULL
);
"""


class LocalKeyStore:
    """The key store as one SQLite file (``None``: in memory, for tests).

    Safe for threads (one connection behind a lock) and processes (SQLite's locks; every
    write is an ``IMMEDIATE`` transaction); a forked child opens its own connection.
    ``durable=False`` skips fsync (tests and benchmarks only).
    """

    def __init__(self, path: Path | None, master_key: bytes, *, durable: bool = True) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self.path = path
        self._root = AESGCM(derive(master_key, "key-store"))
        self._durable = durable
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._keyring: dict[int, AESGCM] = {}

    # -- connection ------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is not None and (self._pid == os.getpid() or self.path is None):
            return self._db
        target = ":memory:"
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with suppress(FileExistsError):  # owner-only; SQLite's journal gets the same
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            target = str(self.path)
        try:
            db = sqlite3.connect(target, timeout=30.0, isolation_level=None,
                                 check_same_thread=False)
        except sqlite3.Error as exc:
            raise KeyStoreError(f"cannot open the key store {self.path}: {exc}") from exc
        self._db, self._pid = db, os.getpid()
        self._keyring.clear()
        try:
            db.execute("PRAGMA secure_delete = ON")  # deleted entries are overwritten
            db.execute("PRAGMA journal_mode = DELETE")  # no journal left after a commit
            db.execute(f"PRAGMA synchronous = {'FULL' if self._durable else 'OFF'}")
            db.execute("PRAGMA foreign_keys = ON")
            with self._write() as c:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        c.execute(statement)
                if c.execute("SELECT count(*) FROM keyring").fetchone()[0] == 0:
                    self._add_version(c, 1)
        except sqlite3.Error as exc:
            self._db = None
            db.close()
            raise KeyStoreError(f"{self.path} is not a usable key store: {exc}") from exc
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn()

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None
            self._keyring.clear()

    # -- keyring ---------------------------------------------------------------------

    def _add_version(self, c: sqlite3.Connection, version: int) -> None:
        key = secrets.token_bytes(32)
        c.execute("INSERT INTO keyring (version, sealed, created_at) VALUES (?, ?, ?)",
                  (version, _seal(self._root, key, _keyring_aad(version)), _now()))

    def _active(self, c: sqlite3.Connection) -> int:
        version = c.execute("SELECT max(version) FROM keyring").fetchone()[0]
        if version is None:
            raise KeyStoreError("the key store has no master key")
        return int(version)

    def _kek(self, c: sqlite3.Connection, version: int) -> AESGCM:
        cached = self._keyring.get(version)
        if cached is not None:
            return cached
        row = c.execute("SELECT sealed FROM keyring WHERE version = ?", (version,)).fetchone()
        if row is None:
            raise KeyStoreError(f"master key v{version} is not in the keyring")
        try:
            key = AESGCM(_open(self._root, row[0], _keyring_aad(version)))
        except InvalidTag as exc:
            raise KeyStoreError(f"the key store {self.path} was sealed with another master "
                                "key (ACCORD_MASTER_KEY / master.key)") from exc
        self._keyring[version] = key
        return key

    # -- entries ---------------------------------------------------------------------

    def _shred_key(self, group: str, *, create: bool) -> AESGCM:
        check_group(group)
        for _ in range(3):  # an entry re-wrapped and its version retired meanwhile
            with self._read() as c:
                row = c.execute("SELECT version, wrapped FROM shred_keys WHERE grp = ?",
                                (group,)).fetchone()
                if row is None:
                    break
                try:
                    kek = self._kek(c, row[0])
                except KeyStoreError:
                    if c.execute("SELECT 1 FROM keyring WHERE version = ?",
                                 (row[0],)).fetchone():
                        raise
                    continue
            return AESGCM(self._unwrap_entry(kek, group, row[0], row[1]))
        if not create:
            if self.is_destroyed(group):
                raise KeyDestroyed(group)
            raise KeyStoreError(f"group {group!r} has no key")
        with self._write() as c:
            if c.execute("SELECT 1 FROM shredded WHERE grp = ?", (group,)).fetchone():
                raise KeyDestroyed(group)
            row = c.execute("SELECT version, wrapped FROM shred_keys WHERE grp = ?",
                            (group,)).fetchone()
            if row is not None:  # made by another process meanwhile
                return AESGCM(self._unwrap_entry(self._kek(c, row[0]), group, *row))
            version = self._active(c)
            key = secrets.token_bytes(32)
            c.execute("INSERT INTO shred_keys (grp, version, wrapped, created_at) "
                      "VALUES (?, ?, ?, ?)",
                      (group, version, _seal(self._kek(c, version), key,
                                             _entry_aad(group, version)), _now()))
        return AESGCM(key)

    @staticmethod
    def _unwrap_entry(kek: AESGCM, group: str, version: int, wrapped: bytes) -> bytes:
        try:
            return _open(kek, wrapped, _entry_aad(group, version))
        except InvalidTag as exc:
            raise KeyStoreError(f"the key of group {group!r} failed its check") from exc

    def wrap(self, group: str, data_key: bytes, aad: bytes) -> bytes:
        return _seal(self._shred_key(group, create=True), data_key, _data_aad(group, aad))

    def unwrap(self, group: str, wrapped: bytes, aad: bytes) -> bytes:
        key = self._shred_key(group, create=False)
        try:
            return _open(key, wrapped, _data_aad(group, aad))
        except (InvalidTag, ValueError) as exc:
            raise KeyStoreError(f"a data key of group {group!r} failed its check") from exc

    def destroy_group(self, group: str) -> bool:
        check_group(group)
        with self._write() as c:
            gone = c.execute("DELETE FROM shred_keys WHERE grp = ?", (group,)).rowcount
            c.execute("INSERT OR IGNORE INTO shredded (grp, destroyed_at) VALUES (?, ?)",
                      (group, _now()))
        return gone > 0

    def is_destroyed(self, group: str) -> bool:
        with self._read() as c:
            return c.execute("SELECT 1 FROM shredded WHERE grp = ?",
                             (check_group(group),)).fetchone() is not None

    def destroyed_count(self) -> int:
        with self._read() as c:
            return int(c.execute("SELECT count(*) FROM shredded").fetchone()[0])

    # -- rotation --------------------------------------------------------------------

    def versions(self) -> list[MasterKeyVersion]:
        with self._read() as c:
            counts = dict(c.execute("SELECT version, count(*) FROM shred_keys "
                                    "GROUP BY version").fetchall())
            rows = c.execute("SELECT version, created_at FROM keyring ORDER BY version"
                             ).fetchall()
            for version, _ in rows:  # each opens with this master key
                self._kek(c, version)
        newest = rows[-1][0] if rows else None
        return [MasterKeyVersion(version=v, created_at=datetime.fromisoformat(at),
                                 entries=int(counts.get(v, 0)), active=v == newest)
                for v, at in rows]

    def begin_rotation(self) -> tuple[int, bool]:
        with self._write() as c:
            active = self._active(c)
            if c.execute("SELECT count(*) FROM keyring").fetchone()[0] > 1:
                return active, True  # an unfinished rotation: go on with it
            self._add_version(c, active + 1)
            return active + 1, False

    def pending(self, target: int) -> int:
        with self._read() as c:
            return int(c.execute("SELECT count(*) FROM shred_keys WHERE version < ?",
                                 (target,)).fetchone()[0])

    def rewrap(self, target: int, limit: int) -> int:
        with self._write() as c:
            new = self._kek(c, target)
            rows = c.execute("SELECT grp, version, wrapped FROM shred_keys "
                             "WHERE version < ? LIMIT ?", (target, limit)).fetchall()
            for group, version, wrapped in rows:
                key = self._unwrap_entry(self._kek(c, version), group, version, wrapped)
                c.execute("UPDATE shred_keys SET version = ?, wrapped = ? WHERE grp = ?",
                          (target, _seal(new, key, _entry_aad(group, target)), group))
        return len(rows)

    def retire(self, target: int) -> tuple[int, ...]:
        with self._write() as c:
            if c.execute("SELECT 1 FROM shred_keys WHERE version < ? LIMIT 1",
                         (target,)).fetchone():
                raise KeyStoreError("entries still need an older master key: finish the "
                                    "rotation first")
            old = tuple(v for (v,) in c.execute(
                "SELECT version FROM keyring WHERE version < ? ORDER BY version", (target,)))
            c.execute("DELETE FROM keyring WHERE version < ?", (target,))
            for v in old:
                self._keyring.pop(v, None)
        return old


def open_key_store(settings: Settings, master_key: bytes) -> KeyStore:
    """The key store ``settings`` name (``ACCORD_KEY_STORE_PATH``, default
    ``data_dir/keys.sqlite``)."""
    return LocalKeyStore(settings.key_store_file, master_key)
