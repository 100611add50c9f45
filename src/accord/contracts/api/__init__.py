"""The contracts API under /api/v1/contracts: one router that includes each group's.
The fixed paths (``/renewals``) come before any ``/{contract_id}`` route."""

from __future__ import annotations

from fastapi import APIRouter

from accord.contracts.api.renewals import router as renewals_router

router = APIRouter()
router.include_router(renewals_router)
