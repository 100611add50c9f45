"""The encrypted, content-addressed blob store."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from accord.storage.blobs import BlobError, LocalBlobStore, load_master_key, sha256_hex


def test_round_trip_and_content_address(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path, secrets.token_bytes(32))
    data = b"%PDF-1.7 confidential contract text" * 100
    key = store.put(data)
    assert key == sha256_hex(data)
    assert store.get(key) == data
    assert store.put(data) == key  # stored once
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1
    raw = files[0].read_bytes()
    assert b"confidential" not in raw  # encrypted at rest


def test_each_blob_has_its_own_data_key(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path, secrets.token_bytes(32))
    a, b = store.put(b"a" * 64), store.put(b"b" * 64)
    raw_a = (tmp_path / a[:2] / a[2:4] / a).read_bytes()
    raw_b = (tmp_path / b[:2] / b[2:4] / b).read_bytes()
    assert raw_a[16:64] != raw_b[16:64]  # different wrapped keys


def test_tampering_and_wrong_master_key_are_detected(tmp_path: Path) -> None:
    master = secrets.token_bytes(32)
    store = LocalBlobStore(tmp_path, master)
    key = store.put(b"hello world")
    path = tmp_path / key[:2] / key[2:4] / key
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(BlobError, match="integrity"):
        store.get(key)
    key2 = store.put(b"another")
    with pytest.raises(BlobError):
        LocalBlobStore(tmp_path, secrets.token_bytes(32)).get(key2)
    with pytest.raises(BlobError, match="missing"):
        store.get("0" * 64)
    with pytest.raises(BlobError, match="not a blob address"):
        store.get("../../etc/passwd")


def test_master_key_generated_once_or_taken_from_the_environment(tmp_path: Path) -> None:
    first = load_master_key(None, tmp_path)
    assert load_master_key(None, tmp_path) == first
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    given = secrets.token_bytes(32)
    assert load_master_key(base64.b64encode(given).decode(), tmp_path / "x") == given
    with pytest.raises(ValueError, match="32 bytes"):
        load_master_key(base64.b64encode(b"short").decode(), tmp_path)
    with pytest.raises(ValueError, match="base64"):
        load_master_key("not base64!!", tmp_path)
