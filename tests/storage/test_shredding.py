"""Crypto-shredding: blobs stored in a group are unreadable once the group's key is
destroyed — from the live store and from a copy of the blobs and the database taken before
the purge, even with the master key — while another group's identical document reads on."""

from __future__ import annotations

import base64
import secrets
import shutil
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text

from accord.config import Settings
from accord.runtime import Runtime, build_runtime
from accord.storage.blobs import (
    GROUP_MAGIC,
    BlobError,
    BlobShredded,
    LocalBlobStore,
    MemoryBlobStore,
    group_address,
    sha256_hex,
)
from accord.storage.keys import LocalKeyStore

PDF = b"%PDF-1.7 the confidential agreement between ACME and Globex " * 50


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_group_is_its_own_address_space(tmp_path: Path) -> None:
    master = secrets.token_bytes(32)
    store = LocalBlobStore(tmp_path / "blobs", master,
                           keys=LocalKeyStore(tmp_path / "keys.sqlite", master))
    a, b, plain = store.put(PDF, group="contract-a"), store.put(PDF, group="contract-b"), \
        store.put(PDF)
    assert plain == sha256_hex(PDF)  # no group: today's address
    assert a == group_address("contract-a", PDF) != b
    assert len({a, b, plain}) == 3 and all(len(k) == 64 for k in (a, b))
    assert store.put(PDF, group="contract-a") == a  # stored once per group
    assert len(_files(tmp_path / "blobs")) == 3
    for key in (a, b, plain):
        assert store.get(key) == PDF and store.exists(key)
    for path in _files(tmp_path / "blobs"):
        assert b"confidential" not in path.read_bytes()

    store.destroy_group("contract-a")
    with pytest.raises(BlobShredded, match="shredded") as caught:
        store.get(a)
    assert caught.value.group == "contract-a" and caught.value.key == a
    assert isinstance(caught.value, BlobError)  # callers that catch BlobError still do
    assert store.get(b) == PDF  # the other group's identical document is whole
    assert store.get(plain) == PDF
    with pytest.raises(BlobShredded):  # a destroyed group takes no new blobs
        store.put(PDF, group="contract-a")
    with pytest.raises(BlobShredded):
        store.put(b"something new", group="contract-a")
    store.destroy_group("contract-a")  # idempotent


def test_a_copy_taken_before_the_purge_cannot_be_decrypted(tmp_path: Path) -> None:
    """The database and the blob directory copied before the purge, restored next to the
    master key: the live key store no longer has the key, and no key the master key or
    the keyring yields opens the blob's data key."""
    settings = Settings(data_dir=tmp_path / "data", seed_demo=False)
    rt = build_runtime(settings)
    key = rt.blobs.put(PDF, group="contract-7")
    twin = rt.blobs.put(PDF, group="contract-8")
    with rt.db.engine.begin() as c:  # the database row that names the blob
        c.execute(text("CREATE TABLE docs (blob VARCHAR(64))"))
        c.execute(text("INSERT INTO docs VALUES (:k)"), {"k": key})
    rt.db.engine.dispose()
    backup = tmp_path / "backup"
    shutil.copytree(settings.data_dir / "blobs", backup / "blobs")
    shutil.copy(settings.data_dir / "accord.db", backup / "accord.db")
    assert rt.blobs.get(key) == PDF

    rt.blobs.destroy_group("contract-7")
    assert rt.keys.is_destroyed("contract-7")
    with pytest.raises(BlobShredded):
        rt.blobs.get(key)

    # the copy, restored with the master key and the (live) key store
    restored = tmp_path / "restored"
    shutil.copytree(backup, restored)
    shutil.copy(settings.data_dir / "master.key", restored / "master.key")
    shutil.copy(settings.key_store_file, restored / "keys.sqlite")
    rt2 = build_runtime(Settings(data_dir=restored, seed_demo=False))
    with rt2.db.engine.connect() as c:
        named = c.execute(text("SELECT blob FROM docs")).scalar_one()
    rt2.db.engine.dispose()
    assert named == key
    with pytest.raises(BlobShredded):
        rt2.blobs.get(named)
    assert rt2.blobs.get(twin) == PDF  # what was not purged still restores

    # ... or with an empty key store: no key at all
    (restored / "keys.sqlite").unlink()
    with pytest.raises(BlobError, match="integrity"):
        build_runtime(Settings(data_dir=restored, seed_demo=False)).blobs.get(named)

    # ... and by hand: the master key itself does not open the blob's wrapped data key
    raw = (restored / "blobs" / key[:2] / key[2:4] / key).read_bytes()
    assert raw[:4] == GROUP_MAGIC and b"confidential" not in raw
    master = rt2.settings.data_dir.joinpath("master.key").read_bytes()
    n = int.from_bytes(raw[4:6], "big")
    w = int.from_bytes(raw[6 + n:8 + n], "big")
    wrapped = raw[8 + n:8 + n + w]
    for candidate in (base64.b64decode(master), rt2.link_key, rt2.secret_key):
        with pytest.raises(InvalidTag):
            AESGCM(candidate).decrypt(wrapped[:12], wrapped[12:], key.encode())


def test_grouped_blobs_need_a_key_store_and_detect_tampering(tmp_path: Path) -> None:
    master = secrets.token_bytes(32)
    bare = LocalBlobStore(tmp_path / "blobs", master)
    assert bare.get(bare.put(b"plain")) == b"plain"
    with pytest.raises(BlobError, match="no key store"):
        bare.put(b"x", group="g")
    store = LocalBlobStore(tmp_path / "blobs", master,
                           keys=LocalKeyStore(tmp_path / "keys.sqlite", master))
    key = store.put(b"grouped", group="g")
    with pytest.raises(BlobError, match="no key store"):
        bare.get(key)
    path = tmp_path / "blobs" / key[:2] / key[2:4] / key
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(BlobError, match="integrity"):
        store.get(key)
    # a blob file moved to another group's address does not open there
    other = store.put(b"grouped", group="h")
    shutil.copy(tmp_path / "blobs" / other[:2] / other[2:4] / other, path)
    with pytest.raises(BlobError):
        store.get(key)
    with pytest.raises(ValueError, match="group"):
        store.put(b"x", group="")
    with pytest.raises(ValueError, match="group"):
        store.put(b"x", group="a\nb")


def test_memory_store_shreds_alike() -> None:
    store = MemoryBlobStore()
    a, b, plain = store.put(PDF, group="a"), store.put(PDF, group="b"), store.put(PDF)
    assert store.get(a) == store.get(b) == store.get(plain) == PDF
    store.destroy_group("a")
    with pytest.raises(BlobShredded):
        store.get(a)
    assert store.get(b) == PDF and store.exists(a)
    with pytest.raises(BlobShredded):
        store.put(PDF, group="a")


def test_the_runtime_shreds_on_either_database(rt: Runtime) -> None:
    """``rt.blobs`` and ``rt.keys`` share the key store, whichever database runs."""
    key = rt.blobs.put(PDF, group="envelope-1")
    assert rt.blobs.get(key) == PDF
    assert rt.settings.key_store_file.exists()
    rt.keys.destroy_group("envelope-1")
    with pytest.raises(BlobShredded):
        rt.blobs.get(key)
    assert rt.blobs.get(rt.blobs.put(PDF)) == PDF
