"""Benchmark: contract repository search on PostgreSQL.

    python bench/contracts.py [--quick] [--contracts N] [--runs N]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust; ACCORD_BENCH_PG_URL overrides
the admin URL); the benchmark creates its own database and drops it at the end.

N contracts (default 100,000; ``--quick`` 10,000) are written with bulk SQL (COPY) into
one organisation, plus 10% as many in a second one (isolation is part of every query):
titles, customers (2,000 of them), types, statuses, end dates over four years, values,
one to three of 20 tags, and a body of ~250 words drawn (Zipf) from a 6,000-word
vocabulary, indexed exactly as the service indexes it (``contracts.search.index``).
Then, through the real service (``contracts.services.search.search``, first page of 50,
newest first, rows built as the API returns them):

- ``search_p95_ms``: full-text searches -- a common word, rarer words, two words, a
  phrase, OR, an exclusion, a customer's name, with and without a filter;
- ``filter_p95_ms``: metadata filters with no text (type + status, an end-date range
  sorted by end date, a tag, a customer, a value range sorted by value);
- ``baseline_p95_ms``: a plain indexed SELECT on the same table (one contract by id),
  in the same run, on the same connection pool.

Progress goes to stdout; the LAST line is one JSON object with ``contracts``,
``database``, ``search_p95_ms``, ``filter_p95_ms`` and ``baseline_p95_ms``.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from accord.accounts.services import create_organisation, create_user  # noqa: E402
from accord.config import Settings  # noqa: E402
from accord.contracts.search.index import contract_document  # noqa: E402
from accord.contracts.services import search  # noqa: E402
from accord.contracts.services.search import Filters  # noqa: E402
from accord.db import Database, new_id  # noqa: E402
from accord.migrate import upgrade  # noqa: E402
from accord.runtime import build_runtime  # noqa: E402

POSTGRES_TSV: list[str] = importlib.import_module(
    "accord.migrations.versions.0015_search").POSTGRES_TSV

PG_ADMIN = os.environ.get("ACCORD_BENCH_PG_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TYPES = ["support_services", "sla_amendment", "maintenance", "nda", "consent",
         "renewal_addendum"]
STATUSES = ["active"] * 6 + ["renewal_due", "renewed", "expired", "terminated"]
TAGS = ["gold", "silver", "bronze", "emea", "apac", "amer", "priority", "legacy", "hipaa",
        "gdpr", "onsite", "remote", "24x7", "business-hours", "partner", "direct",
        "enterprise", "smb", "public-sector", "healthcare"]
SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "zu", "shi", "an",
             "el", "or", "um", "ix", "qua", "bre", "tro"]
LEGAL = ["service", "level", "agreement", "credit", "breach", "renewal", "term", "notice",
         "termination", "liability", "confidential", "support", "incident", "severity",
         "response", "resolution", "maintenance", "window", "customer", "provider"]


GIN_INDEX = next(s for s in POSTGRES_TSV if s.startswith("CREATE INDEX"))


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    words = list(dict.fromkeys(LEGAL + [_word(rng) for _ in range(size * 2)]))
    return words[:size]


def _zipf_sampler(rng: random.Random, words: list[str]) -> Callable[[int], list[str]]:
    cum = list(itertools.accumulate(1 / (i + 1) for i in range(len(words))))
    return lambda k: rng.choices(words, cum_weights=cum, k=k)


def _copy(conn: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                                       ) as copy:
        for row in rows:
            copy.write_row(row)


def _names(rng: random.Random) -> dict[str, Any]:
    """The vocabulary and the customers (the first draws of the seeded generator)."""
    vocab = _vocabulary(rng, 6000)
    customers = [(f"acct-{i:05d}", f"{_word(rng).title()} {_word(rng).title()} "
                  f"{rng.choice(['Ltd', 'GmbH', 'SA', 'Inc', 'BV'])}") for i in range(2000)]
    return {"vocab": vocab, "customers": customers}


def load(db: Database, org_id: str, owner_id: str, n: int, seed: int) -> dict[str, Any]:
    """n contracts of ``org_id`` with tags and index rows, by COPY; what the queries use."""
    rng = random.Random(seed)
    names = _names(rng)
    vocab, customers = names["vocab"], names["customers"]
    body = _zipf_sampler(rng, vocab)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    contracts, tags, index = [], [], []
    for i in range(n):
        cid = new_id()
        account, name = rng.choice(customers)
        ctype = rng.choice(TYPES)
        title = f"{ctype.replace('_', ' ').title()} agreement for {name}"
        end = date(2025, 1, 1) + timedelta(days=rng.randint(0, 4 * 365))
        cents = rng.randint(0, 50_000_000)
        value = None if rng.random() < 0.1 else f"{cents // 100}.{cents % 100:02d}"
        mine = rng.sample(TAGS, rng.randint(1, 3))
        words = body(250)
        text_ = " ".join(words)
        created = start + timedelta(minutes=i)
        contracts.append((cid, org_id, title, ctype, rng.choice(STATUSES), owner_id, account,
                          name, "[]", end, 12, rng.random() < 0.5, 30, value, "EUR", "[]",
                          "import", text_, created, created, 1))
        tags += [(cid, t, org_id) for t in mine]
        index.append((cid, org_id, contract_document(title, name, account, mine, text_)))
    cols = ["id", "org_id", "title", "type", "status", "owner_id", "customer_account_id",
            "customer_name", "parties", "end_date", "term_months", "auto_renew",
            "notice_days", "value", "currency", "watchers", "source", "search_text",
            "created_at", "updated_at", "version"]
    with db.engine.begin() as conn:
        _copy(conn, "contracts", cols, contracts)
        _copy(conn, "contract_tags", ["contract_id", "tag", "org_id"], tags)
        # a GIN index is built far faster in one go than row by row: drop it for the
        # load and build it again exactly as migration 0015_search does
        conn.execute(text("DROP INDEX ix_contract_search_tsv"))
        _copy(conn, "contract_search", ["contract_id", "org_id", "doc"], index)
        conn.execute(text(GIN_INDEX))
    return {"vocab": vocab, "customers": customers, "ids": [c[0] for c in contracts]}


def _p95(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=100)[94] * 1000, 2)


def _time(fn: Callable[[], object], runs: int) -> list[float]:
    for _ in range(3):  # warm the caches and the pool
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _explain(db: Database, who: Any, queries: list[Filters]) -> None:
    from sqlalchemy.dialects import postgresql

    from accord.contracts.search.query import parse

    for f in queries:
        stmt = search.statement(who, f, parse(f.q), postgres=True).limit(51)
        sql = str(stmt.compile(dialect=postgresql.dialect(),
                               compile_kwargs={"literal_binds": True}))
        with db.engine.connect() as conn:
            plan = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)).scalars().all()
        print(f.model_dump(mode="json", exclude_defaults=True), *plan, sep="\n    ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 contracts")
    parser.add_argument("--contracts", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None, help="timed runs per query")
    parser.add_argument("--explain", action="store_true", help="print each query's plan")
    parser.add_argument("--keep", metavar="NAME", help="keep the database under this name "
                        "(reused, without loading, when it exists: for looking at plans)")
    args = parser.parse_args()
    n = args.contracts or (10_000 if args.quick else 100_000)
    runs = args.runs or (20 if args.quick else 40)
    name = args.keep or f"accord_bench_contracts_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        reuse = bool(args.keep) and c.execute(text(
            "SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is not None
        if not reuse:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    db = Database(url)
    t_start = time.perf_counter()
    try:
        upgrade(db.engine)
        with tempfile.TemporaryDirectory() as tmp:
            rt = build_runtime(Settings(data_dir=Path(tmp), database_url=url,
                                        base_url="http://bench", run_worker=False,
                                        seed_demo=False, master_key=None, smtp_host=None),
                               database=db)
            if reuse:
                with db.engine.connect() as conn:
                    org = conn.execute(text("SELECT id FROM organisations WHERE slug = "
                                            "'bench'")).scalar_one()
                    ids = list(conn.execute(text("SELECT id FROM contracts WHERE org_id = "
                                                 ":o"), {"o": org}).scalars())
                data = _names(random.Random(1)) | {"ids": ids}
                n = len(ids)
            else:
                org = create_organisation(rt, "Bench Support", "bench")
                other = create_organisation(rt, "Other Org", "other")
                uid = create_user(rt, org, email="owner@example.com", name="Owner",
                                  role="manager", password="correct horse battery staple")
                oid = create_user(rt, other, email="x@example.com", name="X", role="admin",
                                  password="correct horse battery staple")
                t0 = time.perf_counter()
                data = load(db, org, uid, n, seed=1)
                load(db, other, oid, max(1, n // 10), seed=2)
                with db.engine.begin() as conn:
                    conn.execute(text("ANALYZE contracts; ANALYZE contract_tags; "
                                      "ANALYZE contract_search"))
                print(f"loaded {n:,} (+{n // 10:,}) contracts in "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
            from accord.accounts.services import principal_for_email

            who = principal_for_email(rt, "owner@example.com")
            vocab, customers = data["vocab"], data["customers"]
            common, mid, rare = vocab[0], vocab[60], vocab[3000]
            cust_name = customers[7][1].split()[0]
            text_queries = [
                Filters(q=common), Filters(q=mid), Filters(q=rare),
                Filters(q=f"{mid} {vocab[200]}"), Filters(q=f'"{vocab[0]} {vocab[1]}"'),
                Filters(q=f"{rare} OR {vocab[2500]}"), Filters(q=f"{mid} -{vocab[5]}"),
                Filters(q=cust_name), Filters(q="gold credit"),
                Filters(q=rare, status=("active",)),
                Filters(q=mid, sort="end_date", order="asc"),
                Filters(q=f"{vocab[1500]} {vocab[10]}", type=("nda", "maintenance")),
            ]
            filter_queries = [
                Filters(type=("maintenance",), status=("active", "renewal_due")),
                Filters(end_from=date(2026, 1, 1), end_to=date(2026, 3, 31), sort="end_date",
                        order="asc"),
                Filters(tag=("hipaa",)), Filters(tag=("gold", "emea")),
                Filters(customer=customers[42][0]),
                Filters(value_min=100_000, value_max=200_000, sort="value", order="desc"),
                Filters(status=("renewal_due",), sort="end_date", order="asc"),
                Filters(owner=("me",), sort="title", order="asc"),
            ]

            if args.explain:
                _explain(db, who, [*text_queries, *filter_queries])

            def run(f: Filters) -> Callable[[], object]:
                return lambda: search.search(rt, who, f, limit=50)

            s_samples: list[float] = []
            per_query: dict[str, float] = {}
            for f in text_queries:
                got = _time(run(f), runs)
                per_query[json.dumps(f.model_dump(mode="json", exclude_defaults=True))] = (
                    _p95(got))
                s_samples += got
            f_samples: list[float] = []
            for f in filter_queries:
                got = _time(run(f), runs)
                per_query[json.dumps(f.model_dump(mode="json", exclude_defaults=True))] = (
                    _p95(got))
                f_samples += got
            ids = data["ids"]
            rng = random.Random(3)
            stmt = text("SELECT id, title, status, end_date FROM contracts "
                        "WHERE org_id = :o AND id = :i")

            def baseline() -> object:
                with db.engine.connect() as conn:
                    return conn.execute(stmt, {"o": org, "i": rng.choice(ids)}).all()

            b_samples = _time(baseline, runs * len(text_queries))
            for k, v in per_query.items():
                print(f"  p95 {v:8.2f} ms  {k}", flush=True)
            second = search.search(rt, who, Filters(q=mid), limit=50)
            assert second.items, "the benchmark's searches find contracts"
            figures = {"contracts": n, "database": "postgresql",
                       "search_p95_ms": _p95(s_samples), "filter_p95_ms": _p95(f_samples),
                       "baseline_p95_ms": _p95(b_samples),
                       "runs_per_query": runs, "total_s": round(time.perf_counter() - t_start, 1)}
    finally:
        db.dispose()
        if not args.keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
