"""Schemathesis against /openapi.json: generated requests to every operation, as an admin
with real data in place; no server error and no response that breaks the schema. Strings
may hold any UTF-8 character, NUL and other control characters included (PostgreSQL cannot
store a NUL: the answer must still be a documented 422, never a 500)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from accord.app import create_app
from accord.drafting.services import seed_examples
from accord.runtime import Runtime
from tests.factories import envelope_body, member

AUTH: dict[str, str] = {}


@pytest.fixture
def api_schema(rt: Runtime) -> Any:
    rt.settings = rt.settings.model_copy(update={"rate_limits": False})
    admin = member(rt, role="admin")
    seed_examples(rt, admin.org_id, publisher_user_id=admin.user_id)
    app = create_app(rt)
    from fastapi.testclient import TestClient

    TestClient(app).post("/api/v1/envelopes", json=envelope_body(), headers=admin.auth)
    AUTH.clear()
    AUTH.update(admin.auth)
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    loaded.config.generation.update(allow_x00=True, codec="utf-8")
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_operations(case: Any) -> None:
    # Every check but "a schema-valid request is accepted": business rules (an address
    # that is no email, a key that exists, a template that does not render) reject
    # requests the schema alone cannot tell from good ones, with a documented 4xx.
    case.call_and_validate(headers=AUTH, excluded_checks=[checks.positive_data_acceptance])
