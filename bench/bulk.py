"""Benchmark: bulk send on PostgreSQL -- accepting a 10,000-row CSV, then envelopes per
second end to end with one and with two `accord worker` processes.

    python bench/bulk.py [--quick] [--rows N] [--e2e-rows N]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust; ACCORD_BENCH_PG_URL overrides
the admin URL); the benchmark creates its own database and drops it at the end.

(a) accept: ``POST /api/v1/bulk-batches`` (in-process ASGI client) with a CSV of 10,000
    rows of a published Markdown template: every row validated, all rows stored with one
    bulk INSERT, the work queued. ``--quick`` sends 2,000 rows and reports
    ``accept_10k_s`` scaled linearly to 10,000 (``accept_scaled`` says so).
(b) end to end: N worker processes are started, ready and warmed up (a first batch of
    identical rows, not timed: fonts, template), then a batch of distinct rows
    (each renders its own document) is submitted; the clock stops when the batch is
    finished AND every signing-request email is delivered (local mailbox).
    ``per_s_<n>`` = rows / seconds; ``scaling`` = per_s_2_workers / per_s_1_worker.
    The workers' CPU time per envelope is reported too: when it is the same with two
    workers, they do not get in each other's way, and ``scaling`` is bounded only by the
    cores they get (on a shared machine, check ``loadavg_1m``).

Progress goes to stdout; the LAST line is one JSON object with ``accept_10k_s``,
``per_s_1_worker``, ``per_s_2_workers`` and ``scaling``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, delete, func, select, text

PG_ADMIN = os.environ.get("ACCORD_BENCH_PG_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SOURCE = """# Service notice

This notice is for **{{ customer.legal_name }}** ({{ customer.city }}), account
{{ account }}.

Customer signature: [[signature:customer]]
"""
VARIABLES = [{"name": "customer.legal_name", "type": "text", "max_length": 100},
             {"name": "customer.city", "type": "text", "max_length": 100},
             {"name": "account", "type": "text", "max_length": 40}]
ROLES = [{"key": "customer", "name": "Customer", "type": "signer", "routing_order": 1},
         {"key": "copy", "name": "Account manager", "type": "cc", "routing_order": 2}]
HEADER = ("customer.legal_name,customer.city,account,recipient.customer.name,"
          "recipient.customer.email,recipient.copy.name,recipient.copy.email")
WORKER = [sys.executable, "-c", "from accord.cli import main; main()", "worker"]


def csv_rows(n: int, tag: str, *, same: bool = False) -> bytes:
    lines = [HEADER] + [f"Customer {tag}-{0 if same else i} Ltd,City {i % 97},"
                        f"ACC-{tag}-{0 if same else i:06d},"
                        f"Signer {i},signer-{tag}-{i}@customer.example,Copy {i},"
                        f"copy-{tag}-{i}@provider.example" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def _cpu_s(procs: list[subprocess.Popen[str]]) -> float:
    """CPU seconds (user + system) the running processes have used (Linux /proc)."""
    total = 0
    for proc in procs:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def _admin_sql(sql: str) -> None:
    eng = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(sql))
    eng.dispose()


class Bench:
    def __init__(self, root: Path, db_url: str) -> None:
        from accord.accounts.login import set_mfa_roles
        from accord.accounts.services import (
            create_api_key,
            create_organisation,
            create_user,
        )
        from accord.config import Settings
        from accord.documents.services import ensure_identity
        from accord.drafting import services as drafting
        from accord.migrate import upgrade
        from accord.runtime import build_runtime

        self.env = {**os.environ, "ACCORD_DATABASE_URL": db_url,
                    "ACCORD_DATA_DIR": str(root / "data"), "ACCORD_SEED_DEMO": "false",
                    "ACCORD_WORKER_POLL_S": "0.05", "ACCORD_RATE_LIMITS": "false"}
        self.env.pop("ACCORD_MASTER_KEY", None)
        settings = Settings(data_dir=root / "data", database_url=db_url, seed_demo=False,
                            run_worker=False, rate_limits=False)
        self.rt = build_runtime(settings)
        upgrade(self.rt.db.engine)
        self.org_id = create_organisation(self.rt, "Bench Support", "bench")
        set_mfa_roles(self.rt, self.org_id, [])
        ensure_identity(self.rt, self.org_id)
        uid = create_user(self.rt, self.org_id, email="admin@bench.example", name="Admin",
                          role="admin", password="correct horse battery staple")
        _kid, self.key = create_api_key(self.rt, uid, "bench")
        from accord.accounts.services import authenticate_api_key

        p = authenticate_api_key(self.rt, self.key)
        drafting.create_template(self.rt, p, key="notice", name="Service Notice",
                                 kind="markdown", source=SOURCE, variables=VARIABLES,
                                 roles=ROLES)
        drafting.submit_template(self.rt, p, "notice")
        drafting.publish_template(self.rt, p, "notice")
        from fastapi.testclient import TestClient

        from accord.app import create_app

        self.client = TestClient(create_app(self.rt), base_url="http://bench")

    def post(self, data: bytes) -> dict[str, object]:
        r = self.client.post("/api/v1/bulk-batches", headers={
            "Authorization": f"Bearer {self.key}"}, json={
            "template_key": "notice", "csv_base64": base64.b64encode(data).decode()})
        if r.status_code != 201:
            raise SystemExit(f"submit failed: {r.status_code} {r.text[:300]}")
        body: dict[str, object] = r.json()
        return body

    def forget_queued(self) -> None:
        """The accept batch is only measured, never sent."""
        from accord.delivery.models import OutboxMessage

        with self.rt.db.uow() as uow:
            uow.session.execute(delete(OutboxMessage).where(
                OutboxMessage.status == "pending"))
            uow.commit()

    def busy(self, batch_id: str) -> bool:
        from accord.bulk.models import BulkBatch
        from accord.delivery.models import OutboxMessage

        with self.rt.db.uow() as uow:
            s = uow.session
            if s.scalar(select(BulkBatch.finished_at).where(BulkBatch.id == batch_id)) is None:
                return True
            return bool(s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == "pending")))

    def end_to_end(self, workers: int, rows: int) -> tuple[float, float]:
        """(wall seconds, CPU seconds the workers used) for one batch."""
        procs = []
        for _ in range(workers):
            procs.append(subprocess.Popen(WORKER, env=self.env, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True))
        for proc in procs:  # ready: imported, migrated, polling
            assert proc.stdout is not None
            while "worker running" not in (proc.stdout.readline() or "worker running"):
                pass
        try:  # warm-up: every worker renders once (fonts, template), not timed
            warm = self.post(csv_rows(20 * workers, f"warm{workers}", same=True))
            while self.busy(str(warm["id"])):
                time.sleep(0.05)
            before = _cpu_s(procs)
            data = csv_rows(rows, f"w{workers}")
            start = time.perf_counter()
            batch = self.post(data)
            while self.busy(str(batch["id"])):
                if any(p.poll() is not None for p in procs):
                    raise SystemExit("a worker died")
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
            cpu = _cpu_s(procs) - before
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=60)
        return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches (under 60 s)")
    parser.add_argument("--rows", type=int, default=None, help="rows to accept")
    parser.add_argument("--e2e-rows", type=int, default=None, help="rows sent end to end")
    args = parser.parse_args()
    accept_rows = args.rows or (2000 if args.quick else 10_000)
    e2e_rows = args.e2e_rows or (40 if args.quick else 600)

    name = f"accord_bench_bulk_{os.getpid()}"
    _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin_sql(f'CREATE DATABASE "{name}"')
    db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(Path(tmp), db_url)
            bench.post(csv_rows(50, "warm"))  # imports, first queries, template cache
            bench.forget_queued()
            data = csv_rows(accept_rows, "accept")
            start = time.perf_counter()
            accepted = bench.post(data)
            accept_s = time.perf_counter() - start
            bench.forget_queued()
            print(f"accepted {accepted['total_rows']} rows in {accept_s:.2f} s "
                  f"({accept_rows / accept_s:,.0f} rows/s)", flush=True)
            per_s, cpu_ms = {}, {}
            for workers in (1, 2):
                elapsed, cpu = bench.end_to_end(workers, e2e_rows)
                per_s[workers] = e2e_rows / elapsed
                cpu_ms[workers] = 1000 * cpu / e2e_rows
                print(f"{workers} worker(s): {e2e_rows} envelopes sent and emailed in "
                      f"{elapsed:.2f} s = {per_s[workers]:.1f} envelopes/s "
                      f"(workers' CPU {cpu_ms[workers]:.0f} ms per envelope; load average "
                      f"{os.getloadavg()[0]:.1f})", flush=True)
            bench.rt.db.dispose()
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result = {
        "accept_10k_s": round(accept_s * 10_000 / accept_rows, 3),
        "accept_rows": accept_rows,
        "accept_scaled": accept_rows != 10_000,
        "per_s_1_worker": round(per_s[1], 2),
        "per_s_2_workers": round(per_s[2], 2),
        "scaling": round(per_s[2] / per_s[1], 3),
        "e2e_rows": e2e_rows,
        "worker_cpu_ms_per_envelope_1": round(cpu_ms[1], 1),
        "worker_cpu_ms_per_envelope_2": round(cpu_ms[2], 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
