"""The Jinja2 environment for Accord's own pages (autoescaped), and page helpers."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ("web", "accounts", "envelopes", "drafting", "signing", "delivery", "audit",
            "documents", "bulk", "webhooks", "contracts")


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


@lru_cache(maxsize=1)
def env() -> Environment:
    loaders = [FileSystemLoader(str(ROOT / f / "templates")) for f in FEATURES
               if (ROOT / f / "templates").is_dir()]
    environment = Environment(loader=ChoiceLoader(loaders),
                              autoescape=select_autoescape(default=True, default_for_string=True),
                              auto_reload=False)
    environment.filters["time"] = _fmt_time
    return environment


def render(request: Request, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    html = env().get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code,
                        headers={"Cache-Control": "no-store"})
