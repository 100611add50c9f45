"""holds: legal holds (on a contract, a customer account or a saved search's matches) and
the contracts each covers

Revision ID: 0018_holds
Revises: 0017_retention
Create Date: 2026-12-02 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db  # the UTCDateTime column type

revision: str = "0018_holds"
down_revision: str | None = "0017_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("customer_account_id", sa.String(length=200), nullable=True),
        sa.Column("view_id", sa.String(length=36), nullable=True),
        sa.Column("filters", sa.JSON(), nullable=True),
        sa.Column("matter", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=300), nullable=False),
        sa.Column("placed_at", accord.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", accord.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=300), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_legal_holds_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index(op.f("ix_legal_holds_org_id"), "legal_holds", ["org_id"])
    op.create_index("ix_legal_holds_org_customer", "legal_holds",
                    ["org_id", "customer_account_id"])
    op.create_table(
        "legal_hold_items",
        sa.Column("hold_id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"],
                                name=op.f("fk_legal_hold_items_contract_id_contracts")),
        sa.ForeignKeyConstraint(["hold_id"], ["legal_holds.id"],
                                name=op.f("fk_legal_hold_items_hold_id_legal_holds")),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_legal_hold_items_org_id_organisations")),
        sa.PrimaryKeyConstraint("hold_id", "contract_id", name=op.f("pk_legal_hold_items")),
    )
    op.create_index(op.f("ix_legal_hold_items_contract_id"), "legal_hold_items",
                    ["contract_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_legal_hold_items_contract_id"), table_name="legal_hold_items")
    op.drop_table("legal_hold_items")
    op.drop_index("ix_legal_holds_org_customer", table_name="legal_holds")
    op.drop_index(op.f("ix_legal_holds_org_id"), table_name="legal_holds")
    op.drop_table("legal_holds")
