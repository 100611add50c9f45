"""Console pages of contracts: one router that includes each group's. The fixed paths
(``/console/contracts/renewals``) come before any ``/console/contracts/{contract_id}``."""

from __future__ import annotations

from fastapi import APIRouter

from accord.contracts.pages.renewals import router as renewals_router

router = APIRouter(include_in_schema=False)
router.include_router(renewals_router)
