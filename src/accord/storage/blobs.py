"""Content-addressed, encrypted blob storage.

Every blob is encrypted with AES-256-GCM under its own random data key. A blob stored
without a group is addressed by the SHA-256 of its plaintext and its data key is wrapped
(AES-256-GCM) by the master key. A blob stored in a *group* (a shred unit: a contract, an
envelope) is addressed by :func:`group_address` (the group and the plaintext's SHA-256:
two groups never share an object, so shredding one leaves the other whole) and its data key
is wrapped by the group's shred key in the key store (:mod:`accord.storage.keys`), never by
the master key: once :meth:`BlobStore.destroy_group` destroyed that key, neither this store
nor a copy of its files and the database taken before can decrypt the blob.
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

from accord.storage.keys import KeyDestroyed, KeyStore, KeyStoreError, LocalKeyStore, check_group

MAGIC = b"ACB1"  # data key wrapped by the master key
GROUP_MAGIC = b"ACB2"  # data key wrapped by the group's shred key (key store)


class BlobError(Exception):
    """A blob is missing, or failed its integrity check."""


class BlobShredded(BlobError):
    """The blob's group was destroyed (crypto-shredded): it can never be read again."""

    def __init__(self, key: str, group: str) -> None:
        super().__init__(f"blob {key} was shredded: the key of its group was destroyed")
        self.key = key
        self.group = group


class BlobStore(Protocol):
    def put(self, data: bytes, *, group: str | None = None) -> str:
        """Store ``data`` and return its address: the SHA-256 hex of the plaintext without
        a group; with one, :func:`group_address` (64 hex digits as well) and the data key
        wrapped by the group's shred key. BlobShredded if the group was destroyed."""
        ...

    def get(self, key: str) -> bytes:
        """Return the plaintext stored at ``key``; raise BlobShredded if its group was
        destroyed, BlobError if missing or altered."""
        ...

    def exists(self, key: str) -> bool: ...

    def destroy_group(self, group: str) -> None:
        """Crypto-shred every blob of ``group``: destroy its shred key. Idempotent."""
        ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def group_address(group: str, data: bytes) -> str:
    """The address of ``data`` stored in ``group``."""
    return hashlib.sha256(b"accord:group-blob\n" + check_group(group).encode() + b"\n"
                          + hashlib.sha256(data).digest()).hexdigest()


def _seal_grouped(keys: KeyStore, group: str, key: str, data: bytes) -> bytes:
    dek = AESGCM.generate_key(bit_length=256)
    aad = key.encode()
    try:
        wrapped = keys.wrap(group, dek, aad)
    except KeyDestroyed as exc:
        raise BlobShredded(key, group) from exc
    nonce = secrets.token_bytes(12)
    name = group.encode()
    return (GROUP_MAGIC + len(name).to_bytes(2, "big") + name
            + len(wrapped).to_bytes(2, "big") + wrapped + nonce
            + AESGCM(dek).encrypt(nonce, data, aad))


def _open_grouped(keys: KeyStore | None, key: str, raw: bytes) -> bytes:
    try:
        n = int.from_bytes(raw[4:6], "big")
        group = raw[6:6 + n].decode()
        at = 6 + n
        w = int.from_bytes(raw[at:at + 2], "big")
        wrapped, nonce, sealed = raw[at + 2:at + 2 + w], raw[at + 2 + w:at + 14 + w], \
            raw[at + 14 + w:]
        check_group(group)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BlobError(f"blob {key} is not an Accord blob") from exc
    if keys is None:
        raise BlobError(f"blob {key} belongs to group {group!r} and this store has no key "
                        "store")
    aad = key.encode()
    try:
        dek = keys.unwrap(group, wrapped, aad)
        data = AESGCM(dek).decrypt(nonce, sealed, aad)
    except KeyDestroyed as exc:
        raise BlobShredded(key, group) from exc
    except (KeyStoreError, InvalidTag, ValueError) as exc:
        raise BlobError(f"blob {key} failed its integrity check ({exc})") from exc
    if group_address(group, data) != key:
        raise BlobError(f"blob {key} does not match its address")
    return data


def _check_key(key: str) -> None:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise BlobError(f"not a blob address: {key!r}")


class LocalBlobStore:
    """Blobs as files under ``root``; the default for the embedded setup. Grouped blobs
    need ``keys`` (the runtime's key store)."""

    def __init__(self, root: Path, master_key: bytes, keys: KeyStore | None = None) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self.root = root
        self.keys = keys
        self._wrap = AESGCM(master_key)
        root.mkdir(parents=True, exist_ok=True)

    def _keys(self) -> KeyStore:
        if self.keys is None:
            raise BlobError("this blob store has no key store: it cannot keep groups")
        return self.keys

    def _path(self, key: str) -> Path:
        _check_key(key)
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def destroy_group(self, group: str) -> None:
        self._keys().destroy_group(group)

    def put(self, data: bytes, *, group: str | None = None) -> str:
        if group is not None:
            keys = self._keys()
            key = group_address(group, data)
            path = self._path(key)
            if path.exists():
                if keys.is_destroyed(group):
                    raise BlobShredded(key, group)
                return key
            self._write(path, _seal_grouped(keys, group, key, data))
            return key
        key = sha256_hex(data)
        path = self._path(key)
        if path.exists():
            return key
        dek = AESGCM.generate_key(bit_length=256)
        wrap_nonce, nonce = secrets.token_bytes(12), secrets.token_bytes(12)
        aad = key.encode()
        wrapped = self._wrap.encrypt(wrap_nonce, dek, aad)
        sealed = AESGCM(dek).encrypt(nonce, data, aad)
        self._write(path, MAGIC + wrap_nonce + wrapped + nonce + sealed)
        return key

    @staticmethod
    def _write(path: Path, content: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise BlobError(f"blob {key} is missing") from exc
        if raw[:4] == GROUP_MAGIC:
            return _open_grouped(self.keys, key, raw)
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
    """In-memory blobs, for tests and benchmarks. Grouped blobs are sealed as on disk,
    under ``keys`` (default: an in-memory key store)."""

    def __init__(self, keys: KeyStore | None = None) -> None:
        self._blobs: dict[str, bytes] = {}
        self._sealed: dict[str, bytes] = {}
        self.keys = keys or LocalKeyStore(None, secrets.token_bytes(32))

    def put(self, data: bytes, *, group: str | None = None) -> str:
        if group is None:
            key = sha256_hex(data)
            self._blobs[key] = data
            return key
        key = group_address(group, data)
        if key in self._sealed and self.keys.is_destroyed(group):
            raise BlobShredded(key, group)
        self._sealed.setdefault(key, _seal_grouped(self.keys, group, key, data))
        return key

    def get(self, key: str) -> bytes:
        if key in self._sealed:
            return _open_grouped(self.keys, key, self._sealed[key])
        try:
            return self._blobs[key]
        except KeyError as exc:
            raise BlobError(f"blob {key} is missing") from exc

    def destroy_group(self, group: str) -> None:
        self.keys.destroy_group(group)

    def exists(self, key: str) -> bool:
        return key in self._blobs or key in self._sealed


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
