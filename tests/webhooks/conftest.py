"""Fixtures the webhook tests share with the delivery tests."""

from tests.delivery.conftest import new_org, org_id

__all__ = ["new_org", "org_id"]
