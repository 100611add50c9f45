"""Tables of the contract record: the contract, its documents (version history), its tags
and the renewal notices already sent."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from accord.db import Base, UTCDateTime, new_id, utcnow


class Contract(Base):
    __tablename__ = "contracts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    customer_account_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    customer_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # [{"name", "email", "role"}]: who signed (or, for an import, who is named)
    parties: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    effective_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    term_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    notice_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    opt_out_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    value: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    # structured SLA terms (per severity targets, calendar, credits); see contracts.domain
    sla_terms: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # own renewal notice windows in days before the end (None: the organisation's)
    renewal_windows: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    watchers: Mapped[list[str]] = mapped_column(JSON, default=list)  # user ids
    source: Mapped[str] = mapped_column(String(20))  # "envelope" | "import"
    # the envelope that filed it first (None for an import)
    envelope_id: Mapped[str | None] = mapped_column(ForeignKey("envelopes.id"), nullable=True,
                                                    unique=True)
    # what full-text search reads: the document text and the metadata, kept by services
    search_text: Mapped[str] = mapped_column(Text, default="")
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    flag_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # retention (contracts.retention): the policy in force and the first day the record
    # may be disposed of (None: not known yet), kept by services.retention.refresh_retention
    retention_policy: Mapped[str] = mapped_column(String(20), default="standard",
                                                  server_default="standard")
    retain_until: Mapped[date | None] = mapped_column(Date, nullable=True)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's API
    __table_args__ = (
        Index("ix_contracts_org_status_end", "org_id", "status", "end_date"),
        Index("ix_contracts_org_customer", "org_id", "customer_account_id"),
        Index("ix_contracts_org_type", "org_id", "type"),
        Index("ix_contracts_org_owner", "org_id", "owner_id"),
        Index("ix_contracts_org_created", "org_id", "created_at", "id"),
        Index("ix_contracts_org_retain_until", "org_id", "retain_until"),
    )


class ContractDocument(Base):
    """One version of the contract: the original, an amendment, a renewal addendum or an
    imported signed PDF, in the order they were filed."""

    __tablename__ = "contract_documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(30))  # original|amendment|renewal_addendum|import
    title: Mapped[str] = mapped_column(String(300))
    envelope_id: Mapped[str | None] = mapped_column(ForeignKey("envelopes.id"), nullable=True)
    blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # what this version set (end date, value, ...), for the history
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("contract_id", "seq"),
                      UniqueConstraint("envelope_id", name="uq_contract_documents_envelope"))


class ContractTag(Base):
    __tablename__ = "contract_tags"

    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))

    __table_args__ = (Index("ix_contract_tags_org_tag", "org_id", "tag"),)


class ContractNotice(Base):
    """A renewal notice (or opt-out warning, or addendum draft) that went out: the unique
    key makes each one happen once per term, whatever the number of workers."""

    __tablename__ = "contract_notices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # renewal | opt_out | addendum | expired
    window_days: Mapped[int] = mapped_column(Integer)
    term_end: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("contract_id", "kind", "window_days", "term_end"),)


class ContractLink(Base):
    """An envelope sent to change an existing contract (an amendment, a renewal addendum):
    when it completes, filing adds it to this contract's history instead of filing a new
    contract."""

    __tablename__ = "contract_links"

    envelope_id: Mapped[str] = mapped_column(ForeignKey("envelopes.id"), primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(30))  # amendment | renewal_addendum
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ContractSearch(Base):
    """What full-text search reads: one row per contract, its words (title, customer,
    tags and ``search_text``, tokenised by ``contracts.search.query.document``), kept in
    step by ``contracts.search.index``. SQLite indexes ``doc`` in the FTS5 table
    ``contract_search_fts`` (external content, kept by triggers); PostgreSQL in the
    generated column ``doc_tsv`` (tsvector) with a GIN index. Both are made by migration
    0016_search and not described here (see ``UNMODELLED``)."""

    __tablename__ = "contract_search"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    doc: Mapped[str] = mapped_column(Text, default="")


class SavedView(Base):
    """A named set of contract search filters, one user's, shared with the organisation
    when ``shared``."""

    __tablename__ = "contract_saved_views"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    shared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("org_id", "user_id", "name"),
                      Index("ix_contract_saved_views_org_shared", "org_id", "shared"))


class LegalHold(Base):
    """A legal hold (``contracts.services.holds``): on one contract, on every contract of a
    customer account (those filed later too), or on the contracts a saved search matched
    when the hold was placed (listed in ``legal_hold_items``, as is the one contract of a
    contract hold). Active while ``released_at`` is None; never deleted."""

    __tablename__ = "legal_holds"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    scope: Mapped[str] = mapped_column(String(20))  # contract | customer | search
    customer_account_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    view_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # the saved search's filters when the hold was placed (what it matched then)
    filters: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    matter: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(300))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(300), nullable=True)
    release_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_legal_holds_org_customer", "org_id", "customer_account_id"),)


class LegalHoldItem(Base):
    """A contract a contract or saved-search hold covers."""

    __tablename__ = "legal_hold_items"

    hold_id: Mapped[str] = mapped_column(ForeignKey("legal_holds.id"), primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id"), primary_key=True,
                                             index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))


# Made by migration 0016_search on one backend only, so the models cannot describe them:
# the schema comparison (accord.migrate.include_object) leaves them alone.
UNMODELLED = {"table": ("contract_search_fts",), "column": ("contract_search.doc_tsv",),
              "index": ("ix_contract_search_tsv", "ix_contracts_org_end_desc",
                        "ix_contracts_org_value_desc", "ix_contracts_org_title_c")}
Base.metadata.info.setdefault("unmodelled", []).append(UNMODELLED)
# the search's sorts on nullable columns (ascending, nulls last: the index's own order)
Index("ix_contracts_org_end_id", Contract.org_id, Contract.end_date, Contract.id)
Index("ix_contracts_org_value_id", Contract.org_id, Contract.value, Contract.id)
