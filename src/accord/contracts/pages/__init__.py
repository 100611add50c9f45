"""The contracts feature's console pages: one line per group. The fixed paths
(``/console/contracts/renewals``, ``/disposition``) come before any
``/console/contracts/{contract_id}``."""

from __future__ import annotations

from fastapi import APIRouter

from accord.contracts.pages.detail import router as detail_router
from accord.contracts.pages.disposition import router as disposition_router
from accord.contracts.pages.list import router as list_router
from accord.contracts.pages.renewals import router as renewals_router

router = APIRouter(include_in_schema=False)
router.include_router(list_router)
router.include_router(renewals_router)
router.include_router(disposition_router)
router.include_router(detail_router)
