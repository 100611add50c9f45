"""bulk send: batches and their rows

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-22 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bulk_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("sender_role", sa.String(length=20), nullable=False),
        sa.Column("sender_email", sa.String(length=320), nullable=False),
        sa.Column("sender_name", sa.String(length=200), nullable=False),
        sa.Column("sender_team", sa.String(length=100), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("template_version_id", sa.String(length=36), nullable=False),
        sa.Column("template_label", sa.String(length=200), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("header", sa.JSON(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("expires_in_days", sa.Integer(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("invalid_rows", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", accord.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", accord.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_bulk_batches_created_by_users")),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_bulk_batches_org_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_batches")),
        sa.UniqueConstraint("org_id", "idempotency_key",
                            name="uq_bulk_batches_org_id_idempotency_key"),
    )
    with op.batch_alter_table("bulk_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bulk_batches_created_at"), ["created_at"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_bulk_batches_created_by"), ["created_by"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_bulk_batches_org_id"), ["org_id"], unique=False)

    op.create_table(
        "bulk_rows",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("envelope_id", sa.String(length=36), nullable=True),
        sa.Column("done_at", accord.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["bulk_batches.id"],
                                name=op.f("fk_bulk_rows_batch_id_bulk_batches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_rows")),
        sa.UniqueConstraint("batch_id", "row_number", name="uq_bulk_rows_batch_id_row_number"),
        sa.UniqueConstraint("envelope_id", name=op.f("uq_bulk_rows_envelope_id")),
    )
    with op.batch_alter_table("bulk_rows", schema=None) as batch_op:
        batch_op.create_index("ix_bulk_rows_batch_id_status", ["batch_id", "status"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bulk_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_bulk_rows_batch_id_status")
    op.drop_table("bulk_rows")
    with op.batch_alter_table("bulk_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bulk_batches_org_id"))
        batch_op.drop_index(batch_op.f("ix_bulk_batches_created_by"))
        batch_op.drop_index(batch_op.f("ix_bulk_batches_created_at"))
    op.drop_table("bulk_batches")
