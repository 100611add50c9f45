"""The render engine's error (pure)."""

from __future__ import annotations

from accord.errors import InvalidInput

__all__ = ["TemplateError"]


class TemplateError(InvalidInput):
    """A template or clause source that cannot be accepted or rendered.

    Codes: ``template_syntax`` (Jinja syntax, bad literal filter arguments),
    ``template_forbidden`` (a construct the sandbox does not allow), ``template_tag``
    (a malformed field tag, or one that does not end up on a page), ``template_kind``,
    ``clause_missing`` (a clause key not among the clauses given), ``template_context``
    (a reserved context key), ``template_render`` (an error while rendering, such as an
    undefined variable or a filter given the wrong type).
    """

    code = "template_syntax"

    def __init__(self, message: str, *, code: str, line: int | None = None,
                 clause: str | None = None) -> None:
        prefix = f"clause '{clause}': " if clause else ""
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"{prefix}{message}{where}", code=code,
                         details={"line": line, "clause": clause})
        self.reason = message      # the message without clause and line
        self.line = line           # 1-based, in the clause body when ``clause`` is set
        self.clause = clause
