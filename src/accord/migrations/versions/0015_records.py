"""records: contract fields a template maps, the values an envelope from such a template
carries for its contract, the reason a contract is flagged, and audit trails for subjects
other than envelopes (contracts)

Revision ID: 0015_records
Revises: 0014_contracts
Create Date: 2026-12-02 02:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import accord.db  # the UTCDateTime column type

revision: str = "0015_records"
down_revision: str | None = "0014_contracts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contract", sa.JSON(), nullable=True))
    op.create_table(
        "template_contract_values",
        sa.Column("envelope_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("template_version_id", sa.String(length=36), nullable=False),
        sa.Column("contract", sa.JSON(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("created_at", accord.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["envelope_id"], ["envelopes.id"],
                                name=op.f("fk_template_contract_values_envelope_id_envelopes")),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"],
                                name=op.f("fk_template_contract_values_org_id_organisations")),
        sa.ForeignKeyConstraint(
            ["template_version_id"], ["template_versions.id"],
            name=op.f("fk_template_contract_values_template_version_id_template_versions")),
        sa.PrimaryKeyConstraint("envelope_id", name=op.f("pk_template_contract_values")),
    )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flag_reason", sa.Text(), nullable=True))
    # an audit trail's subject is any row with an id (an envelope, a contract): the column
    # keeps its name, its key to envelopes goes
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_audit_events_envelope_id_envelopes", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_audit_events_envelope_id_envelopes", "envelopes",
                                    ["envelope_id"], ["id"])
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_column("flag_reason")
    op.drop_table("template_contract_values")
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.drop_column("contract")
