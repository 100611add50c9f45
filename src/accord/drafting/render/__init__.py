"""The render engine: a template source, its context and clauses -> PDF + field map.

    check_source(source, kind) -> SourceInfo       static checks at upload
    render(source, kind, context, clauses, title=..., envelope_id=...) -> Rendered
    render_html(...) -> RenderedHTML               the final HTML and stylesheet

Pipeline: sandboxed Jinja2 (values escaped, see ``render_sandbox``) -> for Markdown,
markdown-it-py (raw HTML of the source allowed) -> clauses inserted -> field tags turned
into invisible fixed-size boxes -> WeasyPrint with the print stylesheet -> the boxes'
positions read back from the layout (``render_pdf``). Pure except for WeasyPrint;
``render`` runs all of it in a subprocess under memory and time limits
(``accord.documents.render_guard``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from markdown_it import MarkdownIt

from accord.documents.errors import DocumentError
from accord.documents.limits import PdfLimits, default_limits
from accord.documents.render_guard import preload, run_guarded
from accord.drafting.render.css import PRINT_CSS, document_html
from accord.drafting.render.errors import TemplateError
from accord.drafting.render.sandbox import (
    CACHE,
    CLAUSE_KEY,
    Compiled,
    SourceInfo,
    Trusted,
    compile_source,
    environment,
    install,
)
from accord.drafting.tags import (
    CLAUSE_CLOSE,
    CLAUSE_OPEN,
    FIELD_ID_PREFIX,
    TagRef,
    decode_field_sentinels,
)

__all__ = [
    "CACHE",
    "PRINT_CSS",
    "Rendered",
    "RenderedField",
    "RenderedHTML",
    "SourceInfo",
    "TagRef",
    "TemplateError",
    "check_clause",
    "check_source",
    "environment",
    "fields_digest",
    "render",
    "render_html",
]

RESERVED_CONTEXT = frozenset({"clause", "range"})
MAX_OUTPUT = 5_000_000  # characters a template (or a clause) may produce
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table")
_CLAUSE_BLOCK = re.compile(f"<p>{CLAUSE_OPEN}(\\d+){CLAUSE_CLOSE}</p>")
_CLAUSE_INLINE = re.compile(f"{CLAUSE_OPEN}(\\d+){CLAUSE_CLOSE}")
preload("accord.drafting.render")  # loaded once by the render guard's helper, with
preload("accord.drafting.render.pdf:warm")  # WeasyPrint and warm font caches


@dataclass(frozen=True)
class RenderedField:
    """A field box: PDF points, origin at the page's top-left corner, y downwards."""

    role: str
    kind: str
    name: str | None
    page: int            # 1-based
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    fields: tuple[RenderedField, ...]
    page_count: int
    fields_sha256: str   # sha256 of the canonical JSON of the fields (layout fingerprint)


@dataclass(frozen=True)
class RenderedHTML:
    """The final HTML handed to WeasyPrint with the stylesheet it is rendered with; ``tags``
    lists the field boxes in order: box ``i`` has the id ``f"{field_prefix}{i}"`` (the
    prefix holds a random part, so a source cannot fake a box with its own id)."""

    html: str
    stylesheet: str
    tags: tuple[TagRef, ...]
    field_prefix: str


# ---------------------------------------------------------------- static checks


def check_source(source: str, kind: str) -> SourceInfo:
    """Check a template source at upload: raises ``TemplateError`` (``template_syntax``,
    ``template_forbidden``, ``template_tag``, ``template_kind``) with the line number.
    A ``pdf`` template has no source: it must be empty."""
    if kind == "pdf":
        if source.strip():
            raise TemplateError("a pdf template has no source", code="template_kind")
        return SourceInfo((), ())
    return compile_source(source, kind).info


def check_clause(body: str) -> SourceInfo:
    """Check a clause body (Markdown, raw HTML allowed); a clause cannot include clauses."""
    return compile_source(body, "markdown", clause_body=True).info


# ---------------------------------------------------------------- rendering


@dataclass
class _RenderState:
    clauses: Mapping[str, str]
    blocks: list[str] = field(default_factory=list)
    size: int = 0           # characters of clause HTML so far (counts toward MAX_OUTPUT)
    in_clause: bool = False


_STATE: ContextVar[_RenderState | None] = ContextVar("accord_render_state", default=None)


def _clause(ctx: Context, key: Any) -> Trusted:
    """``{{ clause("key") }}``: render the clause body with the same context."""
    state = _STATE.get()
    if state is None or not isinstance(key, str) or not CLAUSE_KEY.fullmatch(key):
        raise TemplateError("clause() takes a clause key", code="template_forbidden")
    if state.in_clause:
        raise TemplateError("a clause cannot include another clause",
                            code="template_forbidden", clause=key)
    body = state.clauses.get(key)
    if body is None:
        raise TemplateError(f"the clause '{key}' is not in the clause library",
                            code="clause_missing")
    try:
        compiled = compile_source(body, "markdown", clause_body=True)
        state.in_clause = True
        text = _run(compiled, ctx.get_all())
    except TemplateError as exc:
        if exc.clause:
            raise
        raise TemplateError(exc.reason, code=exc.code, line=exc.line, clause=key) from None
    finally:
        state.in_clause = False
    html = _MARKDOWN.render(text)
    state.size += len(html)
    if state.size > MAX_OUTPUT:
        raise TemplateError(f"the document is longer than {MAX_OUTPUT} characters",
                            code="template_render", clause=key)
    state.blocks.append(f'<div class="accord-clause" data-clause="{key}">\n{html}</div>\n')
    return Trusted(f"{CLAUSE_OPEN}{len(state.blocks) - 1}{CLAUSE_CLOSE}")


install(_clause)


def _template_line(exc: BaseException) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _generate(compiled: Compiled, context: Mapping[str, Any]) -> str:
    parts: list[str] = []
    size = 0
    for chunk in compiled.template.generate(context):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise TemplateError(f"the document is longer than {MAX_OUTPUT} characters",
                                code="template_render")
        parts.append(chunk)
    return "".join(parts)


def _run(compiled: Compiled, context: Mapping[str, Any]) -> str:
    try:
        text = _generate(compiled, context)
    except TemplateError:
        raise
    except SecurityError as exc:
        raise TemplateError(f"not allowed: {exc}", code="template_forbidden",
                            line=_template_line(exc)) from None
    except UndefinedError as exc:
        raise TemplateError(str(exc), code="template_render",
                            line=_template_line(exc)) from None
    except Exception as exc:  # anything a filter or an expression raises while rendering
        raise TemplateError(f"{type(exc).__name__}: {exc}", code="template_render",
                            line=_template_line(exc)) from None
    return text


def _context(context: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(context, Mapping):
        raise TemplateError("the context must be a mapping", code="template_context")
    clash = RESERVED_CONTEXT & set(context)
    if clash:
        raise TemplateError(f"context keys {sorted(clash)} are reserved",
                            code="template_context")
    return dict(context)


def render_html(source: str, kind: str, context: Mapping[str, Any],
                clauses: Mapping[str, str], *, title: str,
                envelope_id: str | None = None, footer: str | None = None) -> RenderedHTML:
    """Everything up to WeasyPrint: the final HTML document and its stylesheet. The
    running footer names the envelope, else ``footer``, else says "Preview"."""
    compiled = compile_source(source, kind)
    state = _RenderState(clauses)
    token = _STATE.set(state)
    try:
        text = _run(compiled, _context(context))
    finally:
        _STATE.reset(token)
    body = _MARKDOWN.render(text) if kind == "markdown" else text
    body = _CLAUSE_BLOCK.sub(lambda m: state.blocks[int(m[1])], body)
    body = _CLAUSE_INLINE.sub(lambda m: state.blocks[int(m[1])], body)
    # The field ids' prefix cannot be guessed by the source (it would have to contain its
    # own hash) and is the same for the same text, so equal documents render to equal bytes
    # (the blob store keeps them once: bulk send renders many identical documents).
    prefix = f"{FIELD_ID_PREFIX}{hashlib.sha256(body.encode()).hexdigest()[:12]}-"
    body, refs = decode_field_sentinels(body, prefix)
    html = document_html(body, title=title, envelope_id=envelope_id, kind=kind,
                         footer=footer)
    return RenderedHTML(html, PRINT_CSS, tuple(refs), prefix)


def render(source: str, kind: str, context: Mapping[str, Any],
           clauses: Mapping[str, str], *, title: str,
           envelope_id: str | None = None, footer: str | None = None,
           limits: PdfLimits | None = None) -> Rendered:
    """Render a template version to PDF with its field map (see the module docstring).
    The whole render (Jinja2 and WeasyPrint) runs in the guarded subprocess (``limits``:
    by default the ``ACCORD_PDF_*`` settings): a template past the memory or time limit
    (a huge loop, a huge image) is a ``TemplateError`` with the code
    ``document_too_complex``."""
    ctx = _context(context)
    limits = limits or default_limits()
    try:
        status, value = run_guarded(
            "accord.drafting.render:_render_job", source, kind, ctx, dict(clauses), title,
            envelope_id, footer, memory_bytes=limits.render_memory_bytes,
            timeout_s=limits.render_timeout_s).value
    except DocumentError as exc:
        raise TemplateError("the document is too complex to render: it needs more than "
                            f"{limits.render_memory_bytes // 2**20:,} MiB of memory or "
                            f"{limits.render_timeout_s:g} s", code=exc.code) from exc
    if status == "template_error":
        reason, code, line, clause = value
        raise TemplateError(reason, code=code, line=line, clause=clause)
    pdf, boxes, page_count, refused = value
    if refused:  # the URLs the child's fetcher refused, for diagnostics (as in-process)
        from accord.drafting.render.pdf import resources

        resources().fetcher.refused.extend(refused)
    fields = tuple(
        RenderedField(role=ref.role, kind=ref.kind, name=ref.name, page=number,
                      x=round(x, 2), y=round(y, 2), width=round(w, 2), height=round(h, 2))
        for ref, number, x, y, w, h in boxes)
    return Rendered(pdf=pdf, fields=fields, page_count=page_count,
                    fields_sha256=fields_digest(fields))


def _render_job(source: str, kind: str, context: dict[str, Any], clauses: dict[str, str],
                title: str, envelope_id: str | None, footer: str | None
                ) -> tuple[str, Any]:
    """What :func:`render` runs in the guarded subprocess."""
    from accord.drafting.render.pdf import build

    try:
        page = render_html(source, kind, context, clauses, title=title,
                           envelope_id=envelope_id, footer=footer)
    except TemplateError as exc:
        return "template_error", (exc.reason, exc.code, exc.line, exc.clause)
    status, value = build(page.html, page.tags, page.field_prefix)
    if status == "template_error":
        return status, (*value, None, None)
    return status, value


def fields_digest(fields: tuple[RenderedField, ...]) -> str:
    """sha256 of the canonical JSON of ``fields`` (sorted keys, no spaces)."""
    canonical = json.dumps([asdict(f) for f in fields], sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
