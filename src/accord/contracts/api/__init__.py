"""The contracts' REST routes. Search's router comes first: its fixed paths
(``/contracts/export.csv``) must match before ``/contracts/{contract_id}``."""

from fastapi import APIRouter

from accord.contracts.api.search import router as search_router

router = APIRouter()
router.include_router(search_router)
