"""Benchmark: what grouped (crypto-shreddable) blobs and key rotation cost.

    python bench/keys.py [--quick] [--entries N] [--doc-kib K]

(a) blobs: put then get of one K KiB document, without a group (data key wrapped by the
    master key) and in a fresh group each time (a shred key made and stored in the key
    store, the data key wrapped by it), on a temporary directory with fsync on;
(b) key store: N shred keys made one transaction each, then `rotate` of all N in batches
    of 500 (entries per second) and `destroy_group` of them all.

Progress goes to stdout; the LAST line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from accord.storage.blobs import LocalBlobStore
from accord.storage.keys import LocalKeyStore, rotate


def _median_ms(fn: Callable[[int], object], rounds: int) -> float:
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--entries", type=int, default=None)
    parser.add_argument("--doc-kib", type=int, default=256)
    args = parser.parse_args()
    entries = args.entries or (500 if args.quick else 5_000)
    rounds = 20 if args.quick else 100
    master = os.urandom(32)
    figures: dict[str, object] = {"python": platform.python_version(), "entries": entries,
                                  "doc_kib": args.doc_kib}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        keys = LocalKeyStore(root / "keys.sqlite", master)
        blobs = LocalBlobStore(root / "blobs", master, keys=keys)
        doc = os.urandom(args.doc_kib * 1024)

        def plain(i: int) -> None:
            blobs.get(blobs.put(doc[:-8] + i.to_bytes(8, "big")))

        def grouped(i: int) -> None:
            blobs.get(blobs.put(doc, group=f"bench-{i}"))

        figures["put_get_plain_ms"] = round(_median_ms(plain, rounds), 3)
        print(f"put+get without a group: {figures['put_get_plain_ms']} ms", flush=True)
        figures["put_get_grouped_ms"] = round(_median_ms(grouped, rounds), 3)
        print(f"put+get in a new group:  {figures['put_get_grouped_ms']} ms", flush=True)

        store = LocalKeyStore(root / "rotate.sqlite", master)
        dek = os.urandom(32)
        started = time.perf_counter()
        for i in range(entries):
            store.wrap(f"contract-{i}", dek, b"")
        made = time.perf_counter() - started
        figures["create_keys_per_s"] = round(entries / made)
        print(f"{entries} shred keys made: {figures['create_keys_per_s']}/s", flush=True)
        started = time.perf_counter()
        result = rotate(store, batch=500)
        took = time.perf_counter() - started
        assert result.rewrapped == entries
        figures["rotate_entries_per_s"] = round(entries / took)
        print(f"rotated: {figures['rotate_entries_per_s']} entries/s", flush=True)
        started = time.perf_counter()
        for i in range(entries):
            store.destroy_group(f"contract-{i}")
        figures["destroy_per_s"] = round(entries / (time.perf_counter() - started))
        print(f"destroyed: {figures['destroy_per_s']}/s", flush=True)
        store.close()
        keys.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
