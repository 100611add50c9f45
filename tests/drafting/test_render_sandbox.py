"""The sandbox, static checks, escaping of merge values and filters (no PDF: fast)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from jinja2.exceptions import SecurityError, TemplateAssertionError, TemplateRuntimeError
from jinja2.sandbox import safe_range
from jinja2.utils import Cycler
from markupsafe import Markup

from accord.drafting.render import (
    TemplateError,
    check_clause,
    check_source,
    render_html,
)
from accord.drafting.render.sandbox import compile_source, environment, keep_line_breaks
from accord.drafting.tags import TagRef
from accord.drafting.variables import Money

INJECTIONS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self }}",
    "{% include '/etc/passwd' %}",
    "{{ range.__globals__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ lipsum.__globals__ }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '{0.__class__}'.format_map(x) }}",
    "{{ x['__class__'] }}",
    "{{ x.__dict__ }}",
    "{{ joiner() }}",
    "{{ namespace(a=1) }}",
    "{{ dict(a=1) }}",
    "{{ self._TemplateReference__context }}",
    "{{ x|map(attribute='__class__')|list }}",
    "{{ x|selectattr('a.__dict__')|list }}",
    "{{ x|sort(attribute='_secret') }}",
    "{% for _x in items %}{{ _x }}{% endfor %}",
    "{% import 'x.html' as x %}",
    "{% from 'x.html' import y %}",
    "{% extends 'base.html' %}",
    "{% macro m() %}x{% endmacro %}",
    "{% call m() %}x{% endcall %}",
    "{% set x %}a{% endset %}",
    "{% filter upper %}x{% endfilter %}",
    "{% block body %}x{% endblock %}",
    "{% autoescape false %}{{ x }}{% endautoescape %}",
    "{{ x|safe }}",
    "{{ x|e }}",
    "{{ x|tojson }}",
    "{{ x|urlize }}",
    "{{ '%s'|format(x) }}",
    "{{ '%s' % x }}",
    "{{ x|center(1000000000) }}",
    "{{ x|xmlattr }}",
    "{{ x|no_such_filter }}",
    "{{ x is no_such_test }}",
    "{{ clause(key) }}",
    '{{ clause("Bad-Key") }}',
    '{{ clause("a", "b") }}',
    "{{ clause }}",
    "{% set c = clause %}",
    "{% set range = 1 %}",
    "\ue000 sentinel",
]


@pytest.mark.parametrize("source", INJECTIONS)
@pytest.mark.parametrize("kind", ["html", "markdown"])
def test_check_source_rejects_each_escape_attempt(source: str, kind: str) -> None:
    with pytest.raises(TemplateError) as caught:
        check_source(source, kind)
    assert caught.value.code == "template_forbidden"
    assert caught.value.line == 1
    assert caught.value.message


@pytest.mark.parametrize("source", INJECTIONS)
def test_render_refuses_the_same_sources(source: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_html(source, "html", {"x": "y", "items": []}, {}, title="T")
    assert caught.value.code == "template_forbidden"


def test_errors_carry_the_line_number() -> None:
    source = "# Title\n\nSome text {{ customer.name }}\n\n{{ ''.__class__ }}\n"
    with pytest.raises(TemplateError) as caught:
        check_source(source, "markdown")
    assert caught.value.line == 5
    assert "(line 5)" in str(caught.value)
    assert "__class__" in caught.value.message


@pytest.mark.parametrize(("source", "line"), [
    ("a\n{{ x ", 2), ("{% if x %}\nno end\n", 2), ("{{ x }}\n{% endfor %}", 2),
    ("{{ d|date('fancy') }}", 1),
])
def test_syntax_errors(source: str, line: int) -> None:
    with pytest.raises(TemplateError) as caught:
        check_source(source, "html")
    assert caught.value.code == "template_syntax"
    assert caught.value.line == line


def test_kinds() -> None:
    assert check_source("", "pdf").tags == ()
    for source, kind in (("text", "pdf"), ("text", "docx")):
        with pytest.raises(TemplateError) as caught:
            check_source(source, kind)
        assert caught.value.code == "template_kind"


def test_check_source_reports_clause_keys_and_tags_with_lines() -> None:
    source = (
        "# Agreement\n"
        '{{ clause("confidentiality") }}\n'
        "Sign: [[signature:customer]] [[date_signed:customer]]\n"
        '{{ clause("termination") }} {{ clause("confidentiality") }}\n'
        "{% for x in rows %}[[initials:provider]]{% endfor %}\n"
        "[[text:customer:po_number]] [[checkbox:customer:agree]] [[not a tag]]\n"
    )
    info = check_source(source, "markdown")
    assert info.clause_keys == ("confidentiality", "termination")
    assert info.tags == (
        TagRef("signature", "customer", None, 3), TagRef("date_signed", "customer", None, 3),
        TagRef("initials", "provider", None, 5), TagRef("text", "customer", "po_number", 6),
        TagRef("checkbox", "customer", "agree", 6),
    )
    assert info.tags[3].text == "[[text:customer:po_number]]"


@pytest.mark.parametrize("source", [
    "[[signature:Customer]]", "[[text:customer]]", "[[checkbox:customer:Agree]]",
    "[[signature:{{ role }}]]", "[[ initials:customer ]]", "[[signature:customer]",
])
def test_malformed_tags_are_rejected(source: str) -> None:
    with pytest.raises(TemplateError) as caught:
        check_source("Intro\n" + source, "html")
    assert caught.value.code == "template_tag"
    assert caught.value.line == 2


def test_clause_bodies_cannot_include_clauses() -> None:
    assert check_clause("Body [[initials:customer]] {{ x }}").tags == (
        TagRef("initials", "customer", None, 1),)
    with pytest.raises(TemplateError) as caught:
        check_clause('{{ clause("other") }}')
    assert caught.value.code == "template_forbidden"


# ---------------------------------------------------------------- the sandbox on its own


@pytest.mark.parametrize(("source", "context", "error"), [
    ("{{ ''.__class__.__mro__ }}", {}, SecurityError),
    ("{{ c.__init__.__globals__ }}", {"c": Cycler(1)}, SecurityError),
    ("{{ r.__globals__ }}", {"r": safe_range}, SecurityError),
    ("{{ '{0.__class__}'.format(x) }}", {"x": 1}, SecurityError),
    ("{{ x.format_map({}) }}", {"x": "{a}"}, SecurityError),
    ("{{ x.__dict__ }}", {"x": Money(Decimal(1), "USD")}, SecurityError),
    ("{{ ''|attr('__class__') }}", {}, TemplateAssertionError),
    ("{{ x|safe }}", {"x": "<b>"}, TemplateAssertionError),
    ("{{ lipsum.__globals__ }}", {}, TemplateRuntimeError),
    ("{{ cycler.__init__.__globals__ }}", {}, TemplateRuntimeError),
    ("{{ x['format']('{0.__class__}') }}", {"x": "s"}, SecurityError),
    ("{% include '/etc/passwd' %}", {}, TypeError),
    ("{{ 'a' * 1000000 }}", {}, SecurityError),
    ("{{ 10 ** 100000 }}", {}, SecurityError),
    ("{{ x.append(1) }}", {"x": []}, SecurityError),
    ("{{ x % 1 }}", {"x": "%999999999s"}, SecurityError),
])
def test_the_sandbox_blocks_escapes_even_without_the_static_check(
        source: str, context: dict[str, Any], error: type[Exception]) -> None:
    env = environment("html")
    with pytest.raises(error):
        env.from_string(source).render(context)


def test_the_unchecked_compile_path_still_runs_in_the_sandbox() -> None:
    compiled = compile_source("{{ ''.__class__.__mro__ }}", "html", check=False)
    with pytest.raises(SecurityError):
        compiled.template.render({})


def test_runaway_expressions_fail_at_render() -> None:
    for source in ("{{ 'a' * 1000000 }}", "{{ 10 ** 100000 }}", "{{ range(10**9)|list }}",
                   "{% for i in range(100000) %}{{ 'x' * 99999 }}{% endfor %}"):
        with pytest.raises(TemplateError) as caught:
            render_html(source, "html", {}, {}, title="T")
        assert caught.value.code in ("template_forbidden", "template_render")
    with pytest.raises(TemplateError) as caught:
        render_html("{% for i in range(60) %}{{ clause('big') }}{% endfor %}", "html", {},
                    {"big": "{{ 'word ' * 20000 }}"}, title="T")
    assert caught.value.code == "template_render"


# ---------------------------------------------------------------- merge values

HOSTILE = {
    "script": "<script>alert(1)</script>",
    "curly": "{{7*7}}",
    "tag": "[[signature:customer]]",
    "encoded": "\ue000" + b"[[signature:customer]]".hex() + "\ue001",
    "clause_ph": "\ue0020\ue003",
    "markdown": "**bold** _it_ [link](http://evil.example) ![i](http://evil.example/x.png)",
    "heading": "# Heading\n\n- item\n1. one",
    "pipe": "a | b",
    "markup": Markup("<b>trusted?</b>"),
    "html_attr": '"><img src=x onerror=alert(1)>',
}


@pytest.mark.parametrize("kind", ["html", "markdown"])
def test_every_merge_value_is_escaped_and_never_becomes_markup_or_a_field(kind: str) -> None:
    source = "\n\n".join(f"{name}: {{{{ {name} }}}}" for name in HOSTILE)
    source += '\n\n| col |\n|---|\n| {{ pipe }} |\n\n<p title="{{ html_attr }}">x</p>\n'
    page = render_html(source, kind, HOSTILE, {}, title="<script>t</script>")
    body = page.html.split("<main", 1)[1]
    assert page.tags == ()
    assert "accord-field" not in body
    assert "<script" not in page.html
    assert "<img" not in body and "<a " not in body and "<strong>" not in body
    assert "<b>" not in body and "<h1>" not in body and "<li>" not in body
    assert "49" not in body
    assert "\ue000" not in page.html and "\ue002" not in page.html
    for text in ("&lt;script&gt;alert(1)&lt;/script&gt;", "{{7*7}}",
                 "[[signature:customer]]", "**bold**", "&lt;b&gt;trusted?&lt;/b&gt;"):
        assert text in body.replace("&#123;", "{").replace("&#125;", "}").replace(
            "&#91;", "[").replace("&#93;", "]").replace("&#42;", "*"), text


def test_values_stay_inside_markdown_table_cells() -> None:
    source = "| a | b |\n|---|---|\n{% for r in rows %}\n| {{ r.a }} | {{ r.b }} |\n{% endfor %}\n"
    rows = [{"a": "x | y", "b": "1"}, {"a": "---", "b": "**2**"}]
    page = render_html(source, "markdown", {"rows": rows}, {}, title="T")
    assert page.html.count("<tr>") == 3
    assert "<td>x | y</td>" in page.html and "<td>**2**</td>" in page.html


def test_values_in_clauses_are_escaped_too_and_clause_tags_become_fields() -> None:
    clauses = {"terms": "Agreed by {{ name }}: [[initials:customer]]"}
    page = render_html('{{ clause("terms") }}', "html", {"name": "[[signature:provider]]"},
                       clauses, title="T")
    assert page.tags == (TagRef("initials", "customer", None, 0),)
    assert page.html.count('class="accord-field ') == 1
    assert "[[signature:provider]]" in page.html.replace("&#91;", "[").replace("&#93;", "]")


def test_values_cannot_shadow_engine_globals() -> None:
    with pytest.raises(TemplateError) as caught:
        render_html("x", "html", {"clause": "x"}, {}, title="T")
    assert caught.value.code == "template_context"


def test_dict_method_names_resolve_to_the_values() -> None:
    page = render_html("{{ order.items }} {{ order.keys }}", "html",
                       {"order": {"items": 3, "keys": "k"}}, {}, title="T")
    assert "3 k" in page.html


# ---------------------------------------------------------------- rendering behaviour


def test_filters() -> None:
    source = (
        "{{ fee|money }}|{{ 5|money('EUR') }}|{{ 1234.5|number }}|{{ 1234.5|number(2) }}|"
        "{{ d|date }}|{{ d|date('long') }}|{{ d|date('us') }}|{{ d|date('short') }}|"
        "{{ '2026-01-05'|date('long') }}|{{ jpy|money }}|{{ flag }}|{{ nothing }}|"
    )
    context = {"fee": Money(Decimal("24000"), "USD"), "d": date(2026, 11, 21),
               "jpy": Money(Decimal("150000"), "JPY"), "flag": True, "nothing": None}
    page = render_html(source, "html", context, {}, title="T")
    assert ("USD 24,000.00|EUR 5.00|1,234.5|1,234.50|2026-11-21|21 November 2026|"
            "November 21, 2026|11/21/2026|5 January 2026|JPY 150,000|Yes||") in page.html


@pytest.mark.parametrize("source", ["{{ 'abc'|money }}", "{{ 'soon'|date }}",
                                    "{{ d|date(fmt) }}", "{{ 'x'|number }}"])
def test_filter_errors_are_template_errors(source: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_html(source, "html", {"d": date(2026, 1, 1), "fmt": "fancy"}, {}, title="T")
    assert caught.value.code == "template_render"


def test_undefined_variables_fail_with_the_line() -> None:
    with pytest.raises(TemplateError) as caught:
        render_html("line one\n{{ customer.legal_nam }}", "html",
                    {"customer": {"legal_name": "x"}}, {}, title="T")
    assert caught.value.code == "template_render"
    assert caught.value.line == 2


def test_clause_problems() -> None:
    with pytest.raises(TemplateError) as caught:
        render_html('{{ clause("missing") }}', "html", {}, {}, title="T")
    assert caught.value.code == "clause_missing"
    with pytest.raises(TemplateError) as caught:
        render_html('{{ clause("bad") }}', "html", {}, {"bad": "ok\n{{ x.__class__ }}"},
                    title="T")
    assert (caught.value.code, caught.value.clause, caught.value.line) == (
        "template_forbidden", "bad", 2)
    with pytest.raises(TemplateError) as caught:
        render_html('{{ clause("nested") }}', "html", {},
                    {"nested": '{{ clause("nested") }}'}, title="T")
    assert caught.value.code == "template_forbidden"


def test_block_tags_at_the_end_of_a_line_keep_paragraphs_apart() -> None:
    source = ("First {% if a %}yes{% endif %}\n\n{% if b %}\nSecond\n{% endif %}\n\n"
              "| h |\n|---|\n{% for i in [1, 2] %}\n| {{ i }} |\n{% endfor %}\n")
    page = render_html(source, "markdown", {"a": True, "b": True}, {}, title="T")
    assert "<p>First yes</p>\n<p>Second</p>" in page.html
    assert page.html.count("<tr>") == 3
    assert keep_line_breaks("x {% if a %}\n") == "x {% if a +%}\n"


def test_clauses_render_markdown_with_the_same_context() -> None:
    clauses = {"lol": "**Cap.** {% if tier == 'enterprise' %}Enterprise cap{% endif %}"}
    page = render_html('# T\n\n{{ clause("lol") }}\n', "markdown",
                       {"tier": "enterprise"}, clauses, title="T")
    assert ('<div class="accord-clause" data-clause="lol">\n<p><strong>Cap.</strong> '
            "Enterprise cap</p>\n</div>") in page.html
    assert "<p><div" not in page.html


def test_compiled_sources_are_cached_by_content() -> None:
    one = compile_source("cached {{ x }}", "html")
    assert compile_source("cached {{ x }}", "html") is one
    assert compile_source("cached {{ x }}", "markdown") is not one


def test_the_document_wraps_title_and_envelope() -> None:
    page = render_html("Body", "html", {}, {}, title="Support & <Co>", envelope_id="env_9")
    assert "<title>Support &amp; &lt;Co&gt;</title>" in page.html
    assert '<div class="accord-running-footer">Envelope env_9</div>' in page.html
    preview = render_html("Body", "html", {}, {}, title="T")
    assert '<div class="accord-running-footer">Preview</div>' in preview.html
    assert "@page" in page.stylesheet and "Letter" in page.stylesheet
