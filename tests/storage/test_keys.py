"""The key store: shred keys per group, sealed by versioned master keys, in a file of its
own; a destroyed key's bytes are gone from that file."""

from __future__ import annotations

import secrets
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from accord.config import Settings
from accord.runtime import build_runtime
from accord.storage.keys import KeyDestroyed, KeyStoreError, LocalKeyStore


def _entry(path: Path, group: str) -> bytes:
    with sqlite3.connect(path) as c:
        return bytes(c.execute("SELECT wrapped FROM shred_keys WHERE grp = ?",
                               (group,)).fetchone()[0])


def test_wrap_unwrap_and_destroy(tmp_path: Path) -> None:
    store = LocalKeyStore(tmp_path / "keys.sqlite", secrets.token_bytes(32))
    dek = secrets.token_bytes(32)
    wrapped = store.wrap("contract-1", dek, b"blob-address")
    assert dek not in wrapped
    assert store.unwrap("contract-1", wrapped, b"blob-address") == dek
    with pytest.raises(KeyStoreError, match="failed its check"):
        store.unwrap("contract-1", wrapped, b"another-address")
    with pytest.raises(KeyStoreError, match="no key"):
        store.unwrap("contract-2", wrapped, b"blob-address")
    assert store.destroy_group("contract-1") is True
    assert store.destroy_group("contract-1") is False  # idempotent
    assert store.is_destroyed("contract-1") and not store.is_destroyed("contract-2")
    with pytest.raises(KeyDestroyed) as caught:
        store.unwrap("contract-1", wrapped, b"blob-address")
    assert caught.value.group == "contract-1"
    with pytest.raises(KeyDestroyed):
        store.wrap("contract-1", dek, b"x")
    assert (tmp_path / "keys.sqlite").stat().st_mode & 0o777 == 0o600


def test_destroyed_key_bytes_are_gone_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite"
    store = LocalKeyStore(path, secrets.token_bytes(32))
    for i in range(30):  # neighbours on the same page stay
        store.wrap(f"keep-{i}", secrets.token_bytes(32), b"")
    store.wrap("purge-me", secrets.token_bytes(32), b"")
    doomed = _entry(path, "purge-me")
    assert doomed in path.read_bytes()
    store.destroy_group("purge-me")
    leftovers = [p for p in tmp_path.iterdir() if p.name != "keys.sqlite"]
    assert leftovers == []  # no journal or WAL keeps a copy
    raw = path.read_bytes()
    assert doomed not in raw
    assert doomed[12:28] not in raw  # not even part of it
    assert _entry(path, "keep-3") in raw
    store.close()


def test_a_key_store_opens_only_with_its_master_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite"
    LocalKeyStore(path, secrets.token_bytes(32)).wrap("g", secrets.token_bytes(32), b"")
    stranger = LocalKeyStore(path, secrets.token_bytes(32))
    with pytest.raises(KeyStoreError, match="another master key"):
        stranger.wrap("h", secrets.token_bytes(32), b"")
    with pytest.raises(ValueError, match="32 bytes"):
        LocalKeyStore(path, b"short")


def test_the_runtime_keeps_the_key_store_apart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", seed_demo=False)
    rt = build_runtime(settings)
    assert settings.key_store_file == tmp_path / "data" / "keys.sqlite"
    key = rt.blobs.put(b"doc", group="env-1")
    assert settings.key_store_file.exists()
    assert not (settings.data_dir / "blobs").joinpath("keys.sqlite").exists()
    rt.keys.destroy_group("env-1")  # the runtime's key store is the blob store's
    with pytest.raises(Exception, match="shredded"):
        rt.blobs.get(key)
    elsewhere = tmp_path / "vault" / "accord-keys.sqlite"
    rt2 = build_runtime(Settings(data_dir=tmp_path / "data2", key_store_path=elsewhere,
                                 seed_demo=False))
    rt2.blobs.put(b"doc", group="env-1")
    assert elsewhere.exists() and not (tmp_path / "data2" / "keys.sqlite").exists()


def test_a_file_that_is_no_key_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(KeyStoreError, match="not a usable key store"):
        LocalKeyStore(path, secrets.token_bytes(32)).wrap("g", secrets.token_bytes(32), b"")


def test_threads_share_one_key_per_group(tmp_path: Path) -> None:
    master = secrets.token_bytes(32)
    store = LocalKeyStore(tmp_path / "keys.sqlite", master)
    dek = secrets.token_bytes(32)
    with ThreadPoolExecutor(max_workers=8) as pool:
        wrapped = list(pool.map(lambda i: store.wrap(f"g{i % 3}", dek, b"a"), range(24)))
    fresh = LocalKeyStore(tmp_path / "keys.sqlite", master)
    assert all(fresh.unwrap(f"g{i % 3}", w, b"a") == dek for i, w in enumerate(wrapped))
    assert [v.entries for v in fresh.versions()] == [3]


def test_keys_status_reports_a_foreign_master_key(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from accord.storage import cli as keys_cli

    path = tmp_path / "keys.sqlite"
    LocalKeyStore(path, secrets.token_bytes(32)).wrap("g", secrets.token_bytes(32), b"")
    monkeypatch.setattr(keys_cli, "key_store",
                        lambda: LocalKeyStore(path, secrets.token_bytes(32)))
    result = CliRunner().invoke(keys_cli.app, ["status"])
    assert result.exit_code == 2
    assert "another master key" in result.output
