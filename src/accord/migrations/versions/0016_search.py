"""search: the contracts' full-text index (FTS5 on SQLite, tsvector + GIN on PostgreSQL)
and saved views

Revision ID: 0016_search
Revises: 0015_records
Create Date: 2026-12-02 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db  # the UTCDateTime column type

revision: str = "0016_search"
down_revision: str | None = "0015_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite: an external-content FTS5 table over contract_search.doc, kept in step by
# triggers. The ascii tokenizer splits only where the words Accord wrote (already
# case-folded, see contracts.search.query.words) are separated.
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE contract_search_fts USING fts5(doc, content='contract_search', "
    "content_rowid='id', tokenize='ascii')",
    "CREATE TRIGGER contract_search_ai AFTER INSERT ON contract_search BEGIN "
    "INSERT INTO contract_search_fts(rowid, doc) VALUES (new.id, new.doc); END",
    "CREATE TRIGGER contract_search_ad AFTER DELETE ON contract_search BEGIN "
    "INSERT INTO contract_search_fts(contract_search_fts, rowid, doc) "
    "VALUES ('delete', old.id, old.doc); END",
    "CREATE TRIGGER contract_search_au AFTER UPDATE ON contract_search BEGIN "
    "INSERT INTO contract_search_fts(contract_search_fts, rowid, doc) "
    "VALUES ('delete', old.id, old.doc); "
    "INSERT INTO contract_search_fts(rowid, doc) VALUES (new.id, new.doc); END",
]
# PostgreSQL: a generated tsvector (the 'simple' configuration: no stemming, no stop
# words, so that both databases match the same words) with a GIN index.
POSTGRES_TSV = [
    "ALTER TABLE contract_search ADD COLUMN doc_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, doc)) STORED",
    "CREATE INDEX ix_contract_search_tsv ON contract_search USING gin (doc_tsv)",
    # word frequencies for the planner: an index walk in date order for common words, the
    # GIN index for rare ones (the default keeps too few words to tell them apart)
    "ALTER TABLE contract_search ALTER COLUMN doc_tsv SET STATISTICS 1000",
    # the search's sorts as index walks: descending with nulls last, and titles in
    # code-point order (SQLite cannot declare these; its own indexes do ascending)
    "CREATE INDEX ix_contracts_org_end_desc ON contracts (org_id, end_date DESC NULLS LAST, "
    "id DESC)",
    "CREATE INDEX ix_contracts_org_value_desc ON contracts (org_id, value DESC NULLS LAST, "
    "id DESC)",
    'CREATE INDEX ix_contracts_org_title_c ON contracts (org_id, title COLLATE "C", id)',
]


def upgrade() -> None:
    op.create_table(
        "contract_search",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], ondelete="CASCADE",
                                name=op.f("fk_contract_search_contract_id_contracts")),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_contract_search_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_search")),
        sa.UniqueConstraint("contract_id", name=op.f("uq_contract_search_contract_id")),
    )
    with op.batch_alter_table("contract_search", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contract_search_org_id"), ["org_id"], unique=False)
    op.create_table(
        "contract_saved_views",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("shared", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", accord.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", accord.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_contract_saved_views_org_id_organisations")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_contract_saved_views_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_saved_views")),
        sa.UniqueConstraint("org_id", "user_id", "name",
                            name=op.f("uq_contract_saved_views_org_id")),
    )
    with op.batch_alter_table("contract_saved_views", schema=None) as batch_op:
        batch_op.create_index("ix_contract_saved_views_org_shared", ["org_id", "shared"],
                              unique=False)
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index("ix_contracts_org_end_id", ["org_id", "end_date", "id"],
                              unique=False)
        batch_op.create_index("ix_contracts_org_value_id", ["org_id", "value", "id"],
                              unique=False)
    bind = op.get_bind()
    for statement in SQLITE_FTS if bind.dialect.name == "sqlite" else POSTGRES_TSV:
        op.execute(statement)
    _index_existing(bind)


def _index_existing(bind: sa.engine.Connection) -> None:
    """Contracts filed before this revision get their row (same words as the service's)."""
    from accord.contracts.search.query import document

    tags: dict[str, list[str]] = {}
    for cid, tag in bind.execute(sa.text("SELECT contract_id, tag FROM contract_tags")):
        tags.setdefault(cid, []).append(tag)
    rows = bind.execute(sa.text("SELECT id, org_id, title, customer_name, "
                                "customer_account_id, search_text FROM contracts")).all()
    for cid, org_id, title, name, account, text in rows:
        doc = document(title or "", name or "", account or "", " ".join(tags.get(cid, [])),
                       text or "")
        bind.execute(sa.text("INSERT INTO contract_search (contract_id, org_id, doc) "
                             "VALUES (:c, :o, :d)"), {"c": cid, "o": org_id, "d": doc})


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("contract_search_au", "contract_search_ad", "contract_search_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS contract_search_fts")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index("ix_contracts_org_value_id")
        batch_op.drop_index("ix_contracts_org_end_id")
    with op.batch_alter_table("contract_saved_views", schema=None) as batch_op:
        batch_op.drop_index("ix_contract_saved_views_org_shared")
    op.drop_table("contract_saved_views")
    with op.batch_alter_table("contract_search", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_search_org_id"))
    op.drop_table("contract_search")
