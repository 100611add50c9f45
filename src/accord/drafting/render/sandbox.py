"""The Jinja2 sandbox: environments, value escaping, static checks and the compile cache.

Two layers keep template authors and merge values in their place:

* ``check_ast`` rejects, at upload, everything outside the small language templates
  need (no imports, includes, macros, underscore names, unknown filters, ...);
* the ``ImmutableSandboxedEnvironment`` enforces the same at render time, so a source
  that somehow skipped the check still cannot reach Python internals.

Every merge value goes through ``finalize``: it is HTML-escaped, stripped of the
engine's sentinel characters (so it can never create a field) and, in Markdown, has
Markdown punctuation turned into character references (so it stays literal text).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.utils import pass_context
from markupsafe import Markup

from accord.drafting.render.errors import TemplateError
from accord.drafting.render.values import DATE_FORMATS, format_date, format_money, format_number
from accord.drafting.tags import SENTINELS, TagRef, encode_tags, find_tags

__all__ = [
    "ALLOWED_FILTERS",
    "CLAUSE_KEY",
    "Compiled",
    "SourceInfo",
    "Trusted",
    "compile_source",
    "environment",
    "keep_line_breaks",
]

CLAUSE_KEY = re.compile(r"[a-z][a-z0-9_]{0,79}")
KINDS = ("html", "markdown")
#: Jinja's built-in filters that are safe here: none returns markup, reads attributes by
#: a name in a string, or formats with Python's format machinery.
ALLOWED_FILTERS = frozenset({
    "abs", "batch", "capitalize", "count", "d", "default", "dictsort", "first",
    "float", "groupby", "int", "items", "join", "last", "length", "list", "lower", "map",
    "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "select",
    "selectattr", "slice", "sort", "string", "sum", "title", "trim", "truncate", "unique",
    "upper", "wordcount", "wordwrap",
}) | {"money", "date", "number"}
_ATTRIBUTE_FILTERS = frozenset({"map", "selectattr", "rejectattr", "sort", "groupby", "join",
                                "sum", "unique", "min", "max", "dictsort"})
_FORBIDDEN_NODES: dict[type[nodes.Node], str] = {
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.AssignBlock: "{% set %}...{% endset %} (use {% set name = value %})",
    nodes.FilterBlock: "{% filter %}",
    nodes.Block: "{% block %}",
    nodes.EvalContextModifier: "{% autoescape %}",
    nodes.ExprStmt: "{% do %}",
}
_FORBIDDEN_NAMES = frozenset({"self", "super", "caller", "varargs", "kwargs", "cycler",
                              "joiner", "lipsum", "namespace", "dict", "environment"})
_FORBIDDEN_ATTRS = frozenset({"format", "format_map", "mro"})
MAX_SEQUENCE = 100_000      # longest string or list that `*` may build
MAX_EXPONENT = 64


class Trusted(Markup):
    """HTML the engine itself produced (clause placeholders); passes ``finalize`` as is."""

    __slots__ = ()


def _table(markdown: bool) -> dict[int, str | None]:
    table: dict[int, str | None] = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;",
                                    ord('"'): "&#34;", ord("'"): "&#39;"}
    table.update(dict.fromkeys(range(0xE000, 0xE004)))
    table.update(dict.fromkeys([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]))
    if markdown:
        table.update({ord(c): f"&#{ord(c)};" for c in "\\`*_[]()!#+-.|~=:{}$^"})
        table.update({ord("\n"): "&#10;", ord("\r"): None, ord("\t"): " "})
    return table


def _finalizer(table: dict[int, str | None]) -> Callable[[Any], Markup]:
    def finalize(value: Any) -> Markup:
        if type(value) is Trusted:
            return value
        if value is None:
            return Markup("")
        if isinstance(value, bool):
            text = "Yes" if value else "No"
        elif isinstance(value, Markup):  # escaped by Jinja (or by |string): back to text
            text = value.unescape()
        else:
            text = str(value)
        return Markup(text.translate(table))  # noqa: S704 - the table escapes &<>"'

    return finalize


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with guards against huge strings and numbers."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("printf-style formatting is not available (use the filters)")
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (isinstance(seq, str | list | tuple) and isinstance(times, int)
                        and len(seq) * times > MAX_SEQUENCE):
                    raise SecurityError("sequence too long")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja sandboxes str.format / format_map; Accord refuses them outright.
        if super().wrap_str_format(value) is None:
            return None

        def refuse(*args: Any, **kwargs: Any) -> str:
            raise SecurityError("str.format is not available in templates")

        return refuse

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Keys before methods: `customer.items` is the variable, not dict.items.
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def _make_environment(markdown: bool, clause: Callable[..., Any]) -> _Sandbox:
    env = _Sandbox(autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                   lstrip_blocks=True, auto_reload=False, cache_size=0,
                   finalize=_finalizer(_table(markdown)))
    env.filters = {k: v for k, v in env.filters.items() if k in ALLOWED_FILTERS}
    env.filters.update(money=format_money, date=format_date, number=format_number)
    env.globals = {"range": safe_range, "clause": pass_context(clause)}
    return env


# ---------------------------------------------------------------- static checks


@dataclass(frozen=True)
class SourceInfo:
    """What a source uses: the clause keys it includes and the field tags it holds."""

    clause_keys: tuple[str, ...]
    tags: tuple[TagRef, ...]


def _forbid(message: str, node: nodes.Node | None = None) -> TemplateError:
    line = getattr(node, "lineno", None) if node is not None else None
    return TemplateError(message, code="template_forbidden", line=line)


def check_ast(ast: nodes.Template, *, allow_clauses: bool,
              tests: frozenset[str]) -> SourceInfo:
    """Raise ``TemplateError`` for the first construct outside the template language."""
    keys: list[str] = []
    called: set[int] = set()
    for node in ast.find_all(nodes.Node):
        for kind, what in _FORBIDDEN_NODES.items():
            if isinstance(node, kind):
                raise _forbid(f"{what} is not allowed in templates", node)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) \
                and node.node.attr in _FORBIDDEN_ATTRS:
            raise _forbid(f"calling .{node.node.attr}() is not allowed (use the filters)",
                          node)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) \
                and node.node.name == "clause":
            keys.append(_clause_key(node, allow_clauses))
            called.add(id(node.node))
        elif isinstance(node, nodes.Name):
            _check_name(node, called)
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise _forbid(f"attribute '{node.attr}' is not allowed", node)
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) \
                    and node.arg.value.startswith("_"):
                raise _forbid(f"item '{node.arg.value}' is not allowed", node)
        elif isinstance(node, nodes.Filter):
            _check_filter(node)
        elif isinstance(node, nodes.Mod) and isinstance(node.left, nodes.Const) \
                and isinstance(node.left.value, str):
            raise _forbid("printf-style formatting is not allowed (use the filters)", node)
        elif isinstance(node, nodes.Test) and node.name not in tests:
            raise _forbid(f"unknown test '{node.name}'", node)
    return SourceInfo(tuple(dict.fromkeys(keys)), _tags(ast))


def _check_name(node: nodes.Name, called: set[int]) -> None:
    name = node.name
    if name.startswith("_") or name in _FORBIDDEN_NAMES:
        raise _forbid(f"'{name}' is not available in templates", node)
    if name in ("clause", "range") and (node.ctx != "load" or (name == "clause"
                                        and id(node) not in called)):
        raise _forbid(f"'{name}' can only be called", node)


def _clause_key(node: nodes.Call, allow_clauses: bool) -> str:
    if not allow_clauses:
        raise _forbid("a clause cannot include another clause", node)
    arg = node.args[0] if len(node.args) == 1 else None
    if (node.kwargs or node.dyn_args or node.dyn_kwargs or not isinstance(arg, nodes.Const)
            or not isinstance(arg.value, str)):
        raise _forbid('clause() takes one string literal: {{ clause("key") }}', node)
    if not CLAUSE_KEY.fullmatch(arg.value):
        raise _forbid(f"'{arg.value}' is not a valid clause key", node)
    return arg.value


def _check_filter(node: nodes.Filter) -> None:
    if node.name not in ALLOWED_FILTERS:
        raise _forbid(f"unknown or disallowed filter '{node.name}'", node)
    if node.name in _ATTRIBUTE_FILTERS:
        values = [*node.args, *(kw.value for kw in node.kwargs)]
        for value in values:
            if isinstance(value, nodes.Const) and isinstance(value.value, str) and any(
                    part.startswith("_") for part in value.value.split(".")):
                raise _forbid(f"attribute '{value.value}' is not allowed", node)
    if node.name == "date" and node.args and isinstance(node.args[0], nodes.Const) \
            and node.args[0].value not in DATE_FORMATS:
        raise TemplateError(f"unknown date format {node.args[0].value!r} "
                            f"(use one of {', '.join(DATE_FORMATS)})",
                            code="template_syntax", line=node.lineno)


def _tags(ast: nodes.Template) -> tuple[TagRef, ...]:
    found: list[TagRef] = []
    for data in ast.find_all(nodes.TemplateData):
        tags, bad = find_tags(data.data, data.lineno)
        if bad:
            line, text = bad[0]
            raise TemplateError(f"malformed field tag {text!r}: use [[signature:role]], "
                                "[[initials:role]], [[date_signed:role]], "
                                "[[text:role:name]] or [[checkbox:role:name]] with lowercase "
                                "names, written out in full", code="template_tag", line=line)
        found.extend(tags)
    return tuple(found)


# ---------------------------------------------------------------- compiling

_BLOCK_TAG = re.compile(r"\{%.*?%\}")
_COMMENT = re.compile(r"\{#.*?#\}")
_LAST_TAG = re.compile(r"(\{%(?:(?!%\}).)*?[^-+])%\}(\s*)$")
_RAW = re.compile(r"\{%-?\s*(end)?raw\s*-?%\}")


def keep_line_breaks(source: str) -> str:
    """Trim only the lines that hold nothing but block tags.

    ``trim_blocks`` removes the newline after *every* block tag, which glues
    ``...portal.{% endif %}`` to the next paragraph. A block tag that ends a line with
    other content gets Jinja's ``+%}`` (keep the newline); tag-only lines vanish whole,
    so ``{% for %}`` lines inside a Markdown table leave no blank line. Line numbers are
    unchanged.
    """
    lines = source.split("\n")
    in_raw = False
    for index, line in enumerate(lines):
        raws = [m.group(1) for m in _RAW.finditer(line)]
        if in_raw and "end" not in [r or "" for r in raws]:
            continue
        in_raw = bool(raws) and raws[-1] is None
        if "%}" not in line or in_raw:
            continue
        rest = _COMMENT.sub("", _BLOCK_TAG.sub("", line))
        if rest.strip():
            lines[index] = _LAST_TAG.sub(r"\1+%}\2", line)
    return "\n".join(lines)



@dataclass(frozen=True)
class Compiled:
    template: Any   # jinja2.Template; Any because Jinja's render() is untyped here
    info: SourceInfo


class _LRU:
    """A small thread-safe LRU of compiled sources keyed by their sha256."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[str, Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Compiled | None:
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
            return found

    def put(self, key: str, value: Compiled) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


CACHE = _LRU(256)
_CLAUSE_HOOK: list[Callable[[Context, Any], Any]] = []


def _clause_proxy(ctx: Context, key: Any) -> Any:
    if not _CLAUSE_HOOK:
        raise TemplateError("clauses are rendered by accord.drafting.render",
                            code="template_forbidden")
    return _CLAUSE_HOOK[0](ctx, key)


_ENVIRONMENTS = {kind: _make_environment(kind == "markdown", _clause_proxy) for kind in KINDS}


def environment(kind: str) -> _Sandbox:
    """The sandboxed environment for ``html`` or ``markdown`` sources (clause bodies are
    Markdown). Exposed so tests can prove the sandbox holds on its own."""
    return _ENVIRONMENTS[kind]


def install(clause: Callable[[Context, Any], Any]) -> None:
    """Set the function behind ``{{ clause("key") }}`` (the render module does, once)."""
    _CLAUSE_HOOK[:] = [clause]


def compile_source(source: str, kind: str, *, clause_body: bool = False,
                   check: bool = True) -> Compiled:
    """Parse, check and compile ``source`` (cached by its sha256). ``check=False`` skips
    the static checks -- only tests use it, to exercise the sandbox alone."""
    if kind not in KINDS:
        raise TemplateError(f"cannot render a {kind!r} source (use html or markdown)",
                            code="template_kind")
    if not isinstance(source, str):
        raise TemplateError("the source must be text", code="template_syntax")
    digest = hashlib.sha256(
        f"{kind}\0{int(clause_body)}\0{int(check)}\0{source}".encode(
            "utf-8", "surrogatepass")).hexdigest()
    found = CACHE.get(digest)
    if found is not None:
        return found
    env = _ENVIRONMENTS[kind]
    bad = SENTINELS.search(source)
    if check and bad:
        raise TemplateError("the source contains reserved private-use characters "
                            "(U+E000 to U+E003)", code="template_forbidden",
                            line=source.count("\n", 0, bad.start()) + 1)
    try:
        ast = env.parse(keep_line_breaks(source))
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "syntax error", code="template_syntax",
                            line=exc.lineno) from None
    info = (check_ast(ast, allow_clauses=not clause_body, tests=frozenset(env.tests))
            if check else SourceInfo((), _tags(ast)))
    for data in ast.find_all(nodes.TemplateData):
        data.data = encode_tags(data.data)
    try:
        template = env.from_string(ast)
    except JinjaTemplateError as exc:
        raise TemplateError(str(exc), code="template_syntax",
                            line=getattr(exc, "lineno", None)) from None
    compiled = Compiled(template, info)
    CACHE.put(digest, compiled)
    return compiled
