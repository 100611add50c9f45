"""mail that survives outages: the outbox remembers since when a row fails, recipients
remember why their signing request could not be delivered

Revision ID: 0012_mail
Revises: 0011
Create Date: 2026-12-01 22:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db

revision: str = "0012_mail"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failing_since", accord.db.UTCDateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("delivery_failed_at",
                                      accord.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.drop_column("delivery_failed_at")
        batch_op.drop_column("delivery_error")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("failing_since")
