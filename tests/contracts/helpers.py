"""Helpers for the contract tests: envelopes from the shipped support services agreement
(whose ``contract`` section maps its variables), filed directly or signed through."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from accord.contracts.services.filing import on_envelope_completed
from accord.drafting import services as drafting
from accord.drafting.examples import load_examples
from accord.runtime import Runtime
from tests.factories import Member

KEY = "support-services-agreement"
RECIPIENTS = {"customer": {"name": "Dana Whitfield", "email": "dana@customer.example"},
              "provider": {"name": "Paul Provider", "email": "paul@provider.example"},
              "account_manager": {"name": "Amy Manager", "email": "amy@provider.example"}}


def sample(**changes: Any) -> dict[str, Any]:
    """The template's sample data (US, premium tier: no extra approver, no SMS)."""
    seed = next(t for t in load_examples().templates if t.key == KEY)
    data = copy.deepcopy(seed.sample_data)
    data.update({"tier": "premium", "region": "US"}, **changes)
    return data


def seeded(rt: Runtime, m: Member) -> None:
    drafting.seed_examples(rt, m.org_id, publisher_user_id=m.user_id)


def from_template(rt: Runtime, m: Member, *, send: bool = False, key: str = KEY,
                  data: dict[str, Any] | None = None) -> str:
    return drafting.create_from_template(rt, m.principal, template_key=key,
                                         data=sample() if data is None else data,
                                         recipients=RECIPIENTS, send=send)


def file_now(rt: Runtime, env_id: str, org_id: str, now: datetime | None = None) -> None:
    """What the completion does for contracts, without signing (the subscriber alone)."""
    with rt.db.uow() as uow:
        on_envelope_completed(uow.session, envelope_id=env_id, org_id=org_id,
                              now=now or rt.now())
        uow.commit()
