"""A template's role can require signer authentication; senders supply what it needs."""

from __future__ import annotations

import pytest

from accord.drafting import services
from accord.envelopes import services as envelopes
from accord.errors import InvalidInput
from accord.runtime import Runtime
from tests.drafting.test_services import RECIPIENTS, ROLES, SAMPLE, make_clause, make_template
from tests.factories import member


def test_role_auth_is_required_and_applied(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    roles = [{**ROLES[0], "auth": "email_link+sms_otp+access_code"}, *ROLES[1:]]
    make_template(rt, legal.principal, roles=roles)
    agent = member(rt, org_id=legal.org_id)
    with pytest.raises(InvalidInput) as exc:  # the role needs a phone and an access code
        services.create_from_template(rt, agent.principal, template_key="service-order",
                                      data=SAMPLE, recipients=RECIPIENTS)
    assert exc.value.code in ("phone_required", "access_code_too_short")
    recipients = {**RECIPIENTS, "customer": {**RECIPIENTS["customer"],
                                             "phone": "+15555550123",
                                             "access_code": "blue-harbour-42",
                                             "auth": ["kba"],
                                             "kba": [{"question": "Account number?",
                                                      "answer": "AC-1001"}]}}
    env_id = services.create_from_template(rt, agent.principal, template_key="service-order",
                                           data=SAMPLE, recipients=recipients)
    view = envelopes.get(rt, agent.principal, env_id)
    customer = next(r for r in view.recipients if r.email == "ann@customer.example")
    assert set(customer.auth_method.split("+")) >= {"sms_otp", "access_code", "kba"}


def test_bad_role_auth_is_refused_at_upload(rt: Runtime) -> None:
    legal = member(rt, role="legal")
    make_clause(rt, legal.principal)
    roles = [{**ROLES[0], "auth": "email_link+carrier_pigeon"}, *ROLES[1:]]
    with pytest.raises(InvalidInput):
        make_template(rt, legal.principal, roles=roles, publish=False)
