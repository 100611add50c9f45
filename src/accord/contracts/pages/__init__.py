"""The contracts feature's console pages: one line per group."""

from __future__ import annotations

from fastapi import APIRouter

from accord.contracts.pages.detail import router as detail_router

router = APIRouter()
router.include_router(detail_router)
