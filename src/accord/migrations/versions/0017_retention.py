"""retention: contracts.retention_policy and contracts.retain_until (indexed with org_id);
contracts that ended already get their standard retention date

Revision ID: 0017_retention
Revises: 0016_search
Create Date: 2026-12-02 03:10:00
"""

from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0017_retention"
down_revision: str | None = "0016_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _plus_7_years(day: date) -> date:
    try:
        return day.replace(year=day.year + 7)
    except ValueError:
        return day.replace(year=day.year + 7, day=28)


def _as_date(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def upgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        batch.add_column(sa.Column("retention_policy", sa.String(length=20),
                                   nullable=False, server_default="standard"))
        batch.add_column(sa.Column("retain_until", sa.Date(), nullable=True))
        batch.create_index("ix_contracts_org_retain_until", ["org_id", "retain_until"])
    # every existing contract is ``standard``: those that ended are kept 7 years after
    contracts = sa.table("contracts", sa.column("id", sa.String), sa.column("status"),
                         sa.column("end_date"), sa.column("terminated_at"),
                         sa.column("effective_date"), sa.column("created_at"),
                         sa.column("retain_until", sa.Date))
    conn = op.get_bind()
    rows = conn.execute(sa.select(contracts.c.id, contracts.c.status, contracts.c.end_date,
                                  contracts.c.terminated_at, contracts.c.effective_date,
                                  contracts.c.created_at)
                        .where(contracts.c.status.in_(("expired", "terminated")))).all()
    for cid, status, end, terminated, effective, created in rows:
        ended = (_as_date(terminated) if status == "terminated" and terminated else None) \
            or _as_date(end) or _as_date(terminated) or _as_date(effective) \
            or _as_date(created)
        if ended is not None:
            conn.execute(contracts.update().where(contracts.c.id == cid)
                         .values(retain_until=_plus_7_years(ended)))


def downgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        batch.drop_index("ix_contracts_org_retain_until")
        batch.drop_column("retain_until")
        batch.drop_column("retention_policy")
