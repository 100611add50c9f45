"""The running instance: settings, database, blob store, keys and clock, built once per
process and handed to every service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accord.config import Settings
from accord.db import Database, utcnow
from accord.storage.blobs import BlobStore, LocalBlobStore, load_master_key
from accord.storage.keys import KeyStore, open_key_store


def derive_key(master: bytes, purpose: str) -> bytes:
    """A 32-byte subkey of the master key for one purpose (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"accord:{purpose}".encode()).derive(master)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    blobs: BlobStore
    keys: KeyStore  # shred keys of grouped blobs (the blob store wraps through it)
    link_key: bytes
    secret_key: bytes  # root for further purpose keys (derive_key(secret_key, purpose))
    clock: Callable[[], datetime] = field(default=utcnow)

    def now(self) -> datetime:
        return self.clock()


def build_runtime(settings: Settings, *, blobs: BlobStore | None = None,
                  database: Database | None = None, keys: KeyStore | None = None) -> Runtime:
    """The runtime of ``settings``. The key store (opened on first use) is a file apart
    from the database and the blob directory; give ``keys`` along with ``blobs`` (the key
    store ``blobs`` wraps grouped blobs through), so that ``rt.keys`` is the same one."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    master = load_master_key(settings.master_key, settings.data_dir)
    db = database or Database(settings.sqlalchemy_url)
    key_store = keys or open_key_store(settings, master)
    store = blobs or LocalBlobStore(settings.data_dir / "blobs", master, keys=key_store)
    return Runtime(settings=settings, db=db, blobs=store, keys=key_store,
                   link_key=derive_key(master, "signing-links"),
                   secret_key=derive_key(master, "app-secrets"))
