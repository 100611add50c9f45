"""audit keeps its chain heads in its own table (audit_chains) instead of on the envelope

Revision ID: 0013_infra
Revises: 0012_mail
Create Date: 2026-12-02 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_infra"
down_revision: str | Sequence[str] | None = "0012_mail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "audit_chains",
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_audit_chains_org_id_organisations")),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_audit_chains")),
    )
    with op.batch_alter_table("audit_chains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_chains_org_id"), ["org_id"], unique=False)
    op.execute(sa.text(
        "INSERT INTO audit_chains (subject_id, org_id, count, head, version) "
        "SELECT id, org_id, audit_count, COALESCE(audit_head, :genesis), 1 FROM envelopes "
        "WHERE audit_count > 0 OR audit_head IS NOT NULL").bindparams(genesis=GENESIS))
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.drop_column("audit_count")
        batch_op.drop_column("audit_head")


def downgrade() -> None:
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audit_head", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("audit_count", sa.Integer(), nullable=False,
                                      server_default="0"))
    op.execute(sa.text(
        "UPDATE envelopes SET "
        "audit_count = (SELECT c.count FROM audit_chains c WHERE c.subject_id = envelopes.id), "
        "audit_head = (SELECT c.head FROM audit_chains c WHERE c.subject_id = envelopes.id) "
        "WHERE EXISTS (SELECT 1 FROM audit_chains c WHERE c.subject_id = envelopes.id)"))
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.alter_column("audit_count", server_default=None)
    with op.batch_alter_table("audit_chains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_chains_org_id"))
    op.drop_table("audit_chains")
