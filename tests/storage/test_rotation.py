"""Master-key rotation: every shred key re-wrapped under a new version, blobs untouched,
the old version retired only at the end; killed mid-run (SIGKILL), the next run finishes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.storage import cli as keys_cli
from accord.storage.blobs import LocalBlobStore, load_master_key
from accord.storage.keys import KeyStoreError, LocalKeyStore, rotate

ENTRIES = 60
BATCH = 10

# Rotates the key store in argv[1] under the master key of data dir argv[2], killing itself
# with SIGKILL at the argv[4]-th re-wrap (argv[3] == "inside": in the middle of a batch's
# transaction) or once argv[4] entries are committed (argv[3] == "between").
KILLED_RUN = """
import os, signal, sys
from pathlib import Path
import accord.storage.keys as keys
from accord.storage.blobs import load_master_key

path, data_dir, where, after = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
store = keys.LocalKeyStore(path, load_master_key(None, data_dir))
seal, calls = keys._seal, [0]

def counting_seal(key, plaintext, aad):
    calls[0] += 1
    if where == "inside" and calls[0] > after:
        os.kill(os.getpid(), signal.SIGKILL)
    return seal(key, plaintext, aad)

def progress(done, total):
    if where == "between" and done >= after:
        os.kill(os.getpid(), signal.SIGKILL)

keys._seal = counting_seal
keys.rotate(store, batch=BATCH, progress=progress)
print("not killed")
""".replace("BATCH", str(BATCH))


def _env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "ACCORD_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    for name in ("ACCORD_MASTER_KEY", "ACCORD_KEY_STORE_PATH", "ACCORD_DATABASE_URL"):
        env.pop(name, None)
    return env


def _keyring(path: Path) -> list[tuple[int, bytes]]:
    with sqlite3.connect(path) as c:
        return [(v, bytes(s)) for v, s in c.execute(
            "SELECT version, sealed FROM keyring ORDER BY version")]


@pytest.mark.parametrize("where", ["inside", "between"])
def test_rotation_killed_mid_run_is_finished_by_the_next(
        tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    master = load_master_key(None, data)
    path = data / "keys.sqlite"
    store = LocalKeyStore(path, master)
    blobs = LocalBlobStore(data / "blobs", master, keys=store)
    docs = {blobs.put(f"contract {i}".encode() * 20, group=f"c-{i}"): i for i in range(ENTRIES)}
    before = {p: p.read_bytes() for p in (data / "blobs").rglob("*") if p.is_file()}
    old_sealed = _keyring(path)[0][1]
    store.close()

    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(path), str(data), where,
                             "35"], env=_env(data), capture_output=True, text=True,
                            timeout=60, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr

    # mid-run: both versions in the keyring, some entries moved, every blob readable
    store = LocalKeyStore(path, master)
    versions = store.versions()
    assert [v.version for v in versions] == [1, 2]
    done = 30 if where == "inside" else 40  # 3 committed batches, or 4 (killed after)
    assert [v.entries for v in versions] == [ENTRIES - done, done]
    blobs = LocalBlobStore(data / "blobs", master, keys=store)
    for key, i in docs.items():
        assert blobs.get(key) == f"contract {i}".encode() * 20
    monkeypatch.setattr(keys_cli, "key_store", lambda: store)
    status = CliRunner().invoke(keys_cli.app, ["status"])
    assert status.exit_code == 0, status.output
    assert "retiring" in status.output and "unfinished" in status.output
    with pytest.raises(KeyStoreError, match="finish the rotation"):
        store.retire(2)
    store.close()

    # the second run, through the real command, resumes and retires v1
    second = subprocess.run([sys.executable, "-c", "from accord.cli import main; main()",
                             "keys", "rotate", "--batch", "7"], env=_env(data),
                            capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resumed: re-wrapped {ENTRIES - done} entries under v2; retired v1" in second.stdout

    store = LocalKeyStore(path, master)
    assert [(v.version, v.entries) for v in store.versions()] == [(2, ENTRIES)]
    assert [v for v, _ in _keyring(path)] == [2]
    assert old_sealed not in path.read_bytes()  # the retired key's bytes are gone too
    blobs = LocalBlobStore(data / "blobs", master, keys=store)
    for key, i in docs.items():
        assert blobs.get(key) == f"contract {i}".encode() * 20
    after = {p: p.read_bytes() for p in (data / "blobs").rglob("*") if p.is_file()}
    assert after == before  # no blob was touched


def test_new_entries_during_a_rotation_use_the_new_version(tmp_path: Path) -> None:
    master = os.urandom(32)
    store = LocalKeyStore(tmp_path / "keys.sqlite", master)
    old = store.wrap("old", b"k" * 32, b"")
    target, resumed = store.begin_rotation()
    assert (target, resumed) == (2, False)
    assert store.begin_rotation() == (2, True)  # an unfinished rotation is resumed
    new = store.wrap("new", b"n" * 32, b"")
    assert [(v.version, v.entries) for v in store.versions()] == [(1, 1), (2, 1)]
    result = rotate(store)
    assert (result.target, result.rewrapped, result.retired, result.resumed) == \
        (2, 1, (1,), True)
    assert store.unwrap("old", old, b"") == b"k" * 32
    assert store.unwrap("new", new, b"") == b"n" * 32
    # a rotation with nothing to re-wrap still moves on and retires
    store.destroy_group("old")
    store.destroy_group("new")
    assert rotate(store).retired == (2,)
    assert [v.version for v in store.versions()] == [3]
    with pytest.raises(ValueError, match="batch"):
        rotate(store, batch=0)


def test_rotation_streams_entries(tmp_path: Path) -> None:
    """5,000 entries re-wrapped in batches of 200: memory stays that of one batch (all
    rows at once would take over 1 MB), and the run takes seconds, not minutes."""
    store = LocalKeyStore(tmp_path / "keys.sqlite", os.urandom(32), durable=False)
    n = 5_000
    key = os.urandom(32)
    for i in range(n):
        store.wrap(f"contract-{i:05d}", key, b"")
    calls: list[tuple[int, int]] = []
    tracemalloc.start()
    started = time.perf_counter()
    result = rotate(store, batch=200, progress=lambda d, t: calls.append((d, t)))
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.rewrapped == n and result.retired == (1,)
    assert calls[0] == (0, n) and calls[-1] == (n, n) and len(calls) == n // 200 + 1
    assert peak < 300_000, peak
    assert elapsed < 10
    assert [(v.version, v.entries) for v in store.versions()] == [(2, n)]
