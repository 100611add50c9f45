"""Imports every feature's tables so that Base.metadata knows them all (Alembic, tests)."""

from accord.accounts import models as accounts_models
from accord.audit import models as audit_models
from accord.bulk import models as bulk_models
from accord.contracts import models as contracts_models
from accord.delivery import models as delivery_models
from accord.documents import models as documents_models
from accord.drafting import models as drafting_models
from accord.envelopes import models as envelopes_models
from accord.signing import models as signing_models
from accord.web import models as web_models
from accord.webhooks import models as webhooks_models

__all__ = [
    "accounts_models",
    "audit_models",
    "bulk_models",
    "contracts_models",
    "delivery_models",
    "documents_models",
    "drafting_models",
    "envelopes_models",
    "signing_models",
    "web_models",
    "webhooks_models",
]
