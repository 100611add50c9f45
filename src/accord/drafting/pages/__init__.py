"""The drafting feature's console pages, mounted by the app as one ``router``:

* ``/console/templates``  list; authoring, versions, previews, review, diffs
  (``pages_templates``); ``/console/templates/{key}/send`` the generated send form
  (``pages_send``)
* ``/console/clauses``    the clause library (``pages_clauses``)

Each page is thin: parse the form, call one drafting service, render (templates in
``drafting/templates/drafting/``, styles in ``web/static/drafting.css``).
"""

from __future__ import annotations

from fastapi import APIRouter

from accord.drafting.pages import clauses as pages_clauses
from accord.drafting.pages import send as pages_send
from accord.drafting.pages import templates as pages_templates

router = APIRouter(include_in_schema=False)
router.include_router(pages_templates.router)
router.include_router(pages_send.router)
router.include_router(pages_clauses.router)

__all__ = ["router"]
