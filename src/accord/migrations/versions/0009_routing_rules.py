"""routing rules: template versions declare rules, envelopes keep theirs and the data they
read, recipients remember their role key

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-22 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rules", sa.JSON(), server_default="[]", nullable=False))

    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("routing", sa.JSON(), nullable=True))

    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role_key", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recipients", schema=None) as batch_op:
        batch_op.drop_column("role_key")

    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.drop_column("routing")

    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.drop_column("rules")
