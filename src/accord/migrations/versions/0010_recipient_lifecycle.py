"""recipient lifecycle: reminders, expiry warning, delegation

Revision ID: 0010
Revises: 0006
Create Date: 2026-11-22 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db

revision: str = "0010"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminder_interval_hours", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("expiry_warned_at", accord.db.UTCDateTime(timezone=True),
                                      nullable=True))

    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminded_at", accord.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("reminder_count", sa.Integer(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("may_delegate", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.drop_column("may_delegate")
        batch_op.drop_column("reminder_count")
        batch_op.drop_column("reminded_at")

    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.drop_column("expiry_warned_at")
        batch_op.drop_column("reminder_interval_hours")
