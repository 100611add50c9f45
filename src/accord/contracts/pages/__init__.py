"""The contracts' console pages."""

from fastapi import APIRouter

from accord.contracts.pages.list import router as list_router

router = APIRouter()
router.include_router(list_router)
