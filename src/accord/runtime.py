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


def derive_key(master: bytes, purpose: str) -> bytes:
    """A 32-byte subkey of the master key for one purpose (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"accord:{purpose}".encode()).derive(master)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    blobs: BlobStore
    link_key: bytes
    secret_key: bytes  # root for further purpose keys (derive_key(secret_key, purpose))
    clock: Callable[[], datetime] = field(default=utcnow)

    def now(self) -> datetime:
        return self.clock()


def build_runtime(settings: Settings, *, blobs: BlobStore | None = None,
                  database: Database | None = None) -> Runtime:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    master = load_master_key(settings.master_key, settings.data_dir)
    db = database or Database(settings.sqlalchemy_url)
    store = blobs or LocalBlobStore(settings.data_dir / "blobs", master)
    return Runtime(settings=settings, db=db, blobs=store,
                   link_key=derive_key(master, "signing-links"),
                   secret_key=derive_key(master, "app-secrets"))
