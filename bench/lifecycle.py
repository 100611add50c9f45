"""Benchmark: the reminder sweep over many due recipients, with one and with two sweepers.

    python bench/lifecycle.py [--envelopes N] [--database-url URL]

Creates N sent envelopes (one signer each) in a fresh organisation, moves the clock 48
hours on, then times (a) one ``send_due_reminders`` pass and, after another 48 hours,
(b) two passes racing in two threads. Checks that every recipient got exactly one
reminder per round (no double sends). The database defaults to a new SQLite file; give
``--database-url postgresql+psycopg://...`` (an empty database) for PostgreSQL. The LAST
line is one JSON object: ``envelopes``, ``one_sweeper_s``, ``two_sweepers_s``,
``reminders_per_s`` and ``duplicates`` (must be 0).
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from accord.accounts.services import create_organisation, create_user, principal_for_email
from accord.audit.models import AuditEvent
from accord.config import Settings
from accord.db import Database
from accord.envelopes import lifecycle, services
from accord.migrate import upgrade
from accord.runtime import build_runtime


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelopes", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="accord-bench-"))
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    db = Database(url)
    upgrade(db.engine)
    settings = Settings(data_dir=tmp / "data", database_url=url, run_worker=False,
                        seed_demo=False, master_key=None, smtp_host=None)
    rt = build_runtime(settings, database=db)
    clock = Clock()
    rt.clock = clock
    org = create_organisation(rt, "Bench", f"bench-{secrets.token_hex(3)}")
    create_user(rt, org, email="bench@example.com", name="Bench", role="agent",
                password="correct horse battery staple")
    p = principal_for_email(rt, "bench@example.com")
    from weasyprint import HTML

    doc = HTML(string="<p>Agreement</p><p>Signature: ________</p>").write_pdf()
    print(f"creating {args.envelopes} sent envelopes on {url.split(':')[0]} ...", flush=True)
    for i in range(args.envelopes):
        env_id = services.create(rt, p, subject=f"Bench {i}",
                                 documents=[services.DocumentInput("a.pdf", doc)],
                                 recipients=[services.RecipientInput(
                                     f"Signer {i}", f"s{i}@example.com")], fields=[])
        services.send(rt, p, env_id)
    clock.now += timedelta(hours=48)
    t0 = time.perf_counter()
    one = lifecycle.send_due_reminders(rt)
    one_s = time.perf_counter() - t0
    clock.now += timedelta(hours=48)
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        counts.append(lifecycle.send_due_reminders(rt))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    two_s = time.perf_counter() - t0
    with rt.db.uow() as uow:
        reminded = uow.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.tag == "recipient:reminded")) or 0
    duplicates = reminded - 2 * args.envelopes
    print(f"one sweeper: {one} reminders in {one_s:.2f}s; two sweepers: {sum(counts)} "
          f"({counts}) in {two_s:.2f}s", flush=True)
    print(json.dumps({"envelopes": args.envelopes, "one_sweeper_s": round(one_s, 3),
                      "two_sweepers_s": round(two_s, 3),
                      "reminders_per_s": round(one / one_s, 1) if one_s else None,
                      "duplicates": duplicates}))
    db.dispose()


if __name__ == "__main__":
    main()
