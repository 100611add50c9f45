"""The contracts feature's REST routers, under /api/v1/contracts: one line per group.

Order matters: routes with fixed paths (``/renewals``, ``/disposition``, search's
``/export.csv``, the import) come before ``/api/v1/contracts/{contract_id}``, which would
take them as ids."""

from __future__ import annotations

from fastapi import APIRouter

from accord.contracts.api.records import router as records_router
from accord.contracts.api.renewals import router as renewals_router
from accord.contracts.api.retention import router as retention_router
from accord.contracts.api.search import router as search_router

router = APIRouter()
router.include_router(search_router)
router.include_router(renewals_router)
router.include_router(retention_router)
router.include_router(records_router)
