"""Content-addressed, encrypted blob storage.

Every blob is addressed by the SHA-256 of its plaintext and encrypted with AES-256-GCM
under its own random data key; the data key is wrapped (AES-256-GCM) by the master key.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"ACB1"


class BlobError(Exception):
    """A blob is missing, or failed its integrity check."""


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data`` and return its address (SHA-256 hex of the plaintext)."""
        ...

    def get(self, key: str) -> bytes:
        """Return the plaintext stored at ``key``; raise BlobError if missing or altered."""
        ...

    def exists(self, key: str) -> bool: ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_key(key: str) -> None:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise BlobError(f"not a blob address: {key!r}")


class LocalBlobStore:
    """Blobs as files under ``root``; the default for the embedded setup."""

    def __init__(self, root: Path, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self.root = root
        self._wrap = AESGCM(master_key)
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        _check_key(key)
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def put(self, data: bytes) -> str:
        key = sha256_hex(data)
        path = self._path(key)
        if path.exists():
            return key
        dek = AESGCM.generate_key(bit_length=256)
        wrap_nonce, nonce = secrets.token_bytes(12), secrets.token_bytes(12)
        aad = key.encode()
        wrapped = self._wrap.encrypt(wrap_nonce, dek, aad)
        sealed = AESGCM(dek).encrypt(nonce, data, aad)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(MAGIC + wrap_nonce + wrapped + nonce + sealed)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise BlobError(f"blob {key} is missing") from exc
        if raw[:4] != MAGIC or len(raw) < 4 + 12 + 48 + 12 + 16:
            raise BlobError(f"blob {key} is not an Accord blob")
        wrap_nonce, wrapped = raw[4:16], raw[16:64]
        nonce, sealed = raw[64:76], raw[76:]
        aad = key.encode()
        try:
            dek = self._wrap.decrypt(wrap_nonce, wrapped, aad)
            data = AESGCM(dek).decrypt(nonce, sealed, aad)
        except InvalidTag as exc:
            raise BlobError(f"blob {key} failed its integrity check") from exc
        if sha256_hex(data) != key:
            raise BlobError(f"blob {key} does not match its address")
        return data


class MemoryBlobStore:
    """In-memory blobs, for tests and benchmarks."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        key = sha256_hex(data)
        self._blobs[key] = data
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._blobs[key]
        except KeyError as exc:
            raise BlobError(f"blob {key} is missing") from exc

    def exists(self, key: str) -> bool:
        return key in self._blobs


def load_master_key(configured: str | None, data_dir: Path) -> bytes:
    """The master key from configuration, else from data_dir/master.key (made on first use)."""
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except ValueError as exc:
            raise ValueError("ACCORD_MASTER_KEY is not valid base64") from exc
        if len(key) != 32:
            raise ValueError("ACCORD_MASTER_KEY must decode to 32 bytes")
        return key
    path = data_dir / "master.key"
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(key).decode() + "\n")
    return key
