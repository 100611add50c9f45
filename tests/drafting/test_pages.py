"""The drafting console pages through HTTP, no mocks, on SQLite and PostgreSQL: legal
authors, reviews and publishes; agents see published templates only and send them through
the generated form; problems come back per field; values are escaped; CSRF everywhere;
organisations are apart."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pypdfium2 as pdfium
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape
from starlette.routing import NoMatchFound

from accord.app import create_app
from accord.drafting import services
from accord.drafting.pages import router
from accord.drafting.pages.templates import TemplateForm
from accord.envelopes import services as envelopes
from accord.runtime import Runtime
from accord.web import templating
from tests.factories import Member, member
from tests.web.conftest import HTML, login

TEMPLATES = ["maintenance-contract", "mutual-nda", "support-services-agreement"]
NAMES = {"customer": ("Casey Customer", "casey@customer.example"),
         "provider": ("Pat Provider", "pat@provider.example"),
         "legal": ("Lee Legal", "lee@provider.example"),
         "account_manager": ("Alex Manager", "alex@provider.example"),
         "data_protection": ("Dana Privacy", "dana@provider.example")}


@pytest.fixture(autouse=True)
def _drafting_templates() -> Iterator[None]:
    """Until web/templating.py lists "drafting" in FEATURES, add it for these tests."""
    if "drafting" in templating.FEATURES:
        yield
        return
    saved = templating.FEATURES
    templating.FEATURES = (*saved, "drafting")
    templating.env.cache_clear()
    yield
    templating.FEATURES = saved
    templating.env.cache_clear()


def _app(rt: Runtime) -> FastAPI:
    app = create_app(rt)
    try:
        app.url_path_for("template_list")
    except NoMatchFound:  # until app.py mounts the drafting pages
        app.include_router(router)
    return app


@pytest.fixture
def app(rt: Runtime) -> FastAPI:
    return _app(rt)


def browser(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="http://testserver", headers=HTML)


@pytest.fixture
def org(rt: Runtime) -> tuple[Member, Member]:
    """An organisation with the shipped examples published: (legal, agent)."""
    legal = member(rt, role="legal")
    agent = member(rt, role="agent", org_id=legal.org_id)
    services.seed_examples(rt, legal.org_id, publisher_user_id=legal.user_id)
    return legal, agent


def pdf_text(data: bytes) -> str:
    doc = pdfium.PdfDocument(data)
    try:
        return " ".join(" ".join(doc[i].get_textpage().get_text_range().split())
                        for i in range(len(doc)))
    finally:
        doc.close()


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text[:3000]
    return r


def send_form(rt: Runtime, who: Member, key: str) -> dict[str, Any]:
    """What a browser posts when the generated form is filled with the published version's
    sample data (input names per pages_form's docstring), recipients for every role."""
    version = services.get_template_version(rt, who.principal, key)
    form: dict[str, Any] = {"version": str(version.version), "booleans": []}
    for spec in version.variables:
        value: Any = version.sample_data
        for part in spec["name"].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if spec["type"] == "list":
            for i, row in enumerate(value or []):
                for col in spec["columns"]:
                    _fill(form, f"{spec['name']}[{i}].{col['name']}", col, row.get(col["name"]))
        else:
            _fill(form, spec["name"], spec, value)
    for role in version.roles:
        name, email = NAMES[role["key"]]
        form[f"r.{role['key']}.name"], form[f"r.{role['key']}.email"] = name, email
    for rule in version.rules:  # a routing rule may require an SMS code: give the phone
        for action in rule["then"]:
            if "sms_otp" in action.get("method", ""):
                form[f"r.{action['role']}.phone"] = "+15555550123"
    return form


def _fill(form: dict[str, Any], path: str, spec: dict[str, Any], value: Any) -> None:
    if spec["type"] == "boolean":
        form["booleans"].append(path)
        if value if value is not None else spec.get("default"):
            form[f"bool.{path}"] = "yes"
    elif isinstance(value, dict):  # money
        form[f"v.{path}"] = value["amount"]
    elif value is not None:
        form[f"v.{path}"] = str(value)


def envelope_count(rt: Runtime, who: Member) -> int:
    return envelopes.list_envelopes(rt, who.principal).total


# -- legal authors, reviews and publishes --------------------------------------------------


def test_legal_creates_submits_and_publishes_a_template(rt: Runtime, app: FastAPI,
                                                        org: tuple[Member, Member]) -> None:
    legal, agent = org
    c = browser(app)
    token = login(c, legal)
    page = ok(c.get("/console/templates"))
    assert "Support Services Agreement" in page.text and 'id="new-template"' in page.text
    new = ok(c.get("/console/templates/new"))
    assert "How to declare variables" in new.text and "customer.legal_name" in new.text
    example = TemplateForm.example()
    form = {"csrf_token": token, "key": "service-order", "name": "Service Order",
            "kind": "markdown", "source": example.source, "variables": example.variables,
            "roles": example.roles, "prefill": example.prefill,
            "sample_data": example.sample_data}
    r = ok(c.post("/console/templates", data=form, follow_redirects=False), 303)
    assert r.headers["location"] == "/console/templates/service-order/versions/1?notice=created"
    version = ok(c.get(r.headers["location"]))
    assert "v-draft" in version.text and 'id="submit-1"' in version.text
    preview = ok(c.get("/console/templates/service-order/versions/1/preview.pdf"))
    assert preview.headers["content-type"] == "application/pdf"
    assert preview.headers["content-disposition"].startswith("inline")
    assert "Example Corporation" in pdf_text(preview.content)
    # the agent does not see a draft
    a = browser(app)
    login(a, agent)
    assert "Service Order" not in ok(a.get("/console/templates")).text
    assert a.get("/console/templates/service-order").status_code == 404
    base = "/console/templates/service-order/versions/1"
    ok(c.post(f"{base}/submit", data={"csrf_token": token}, follow_redirects=False), 303)
    assert 'id="publish-1"' in ok(c.get(base)).text
    ok(c.post(f"{base}/publish", data={"csrf_token": token}, follow_redirects=False), 303)
    detail = ok(c.get("/console/templates/service-order"))
    assert "published v1" in detail.text
    assert "Service Order" in ok(a.get("/console/templates")).text
    assert ok(a.get("/console/templates/service-order/send")).status_code == 200
    # editing a published version makes draft v2; the diff shows the changed lines
    edit = ok(c.get("/console/templates/service-order/edit"))
    assert "Save draft" in edit.text
    changed = example.source.replace("# Service order", "# Service order form")
    r = ok(c.post("/console/templates/service-order/edit", follow_redirects=False, data={
        **form, "source": changed}), 303)
    assert r.headers["location"].startswith("/console/templates/service-order/versions/2")
    diff = ok(c.get("/console/templates/service-order/diff?from=1&to=2"))
    assert '<span class="d-del">-# Service order</span>' in diff.text
    assert '<span class="d-add">+# Service order form</span>' in diff.text
    # reject sends a version in review back to draft; retire takes v1 out of use
    ok(c.post("/console/templates/service-order/versions/2/submit",
              data={"csrf_token": token}, follow_redirects=False), 303)
    ok(c.post("/console/templates/service-order/versions/2/reject",
              data={"csrf_token": token}, follow_redirects=False), 303)
    assert "v-draft" in ok(c.get("/console/templates/service-order/versions/2")).text
    ok(c.post(f"{base}/retire", data={"csrf_token": token}, follow_redirects=False), 303)
    assert "v-retired" in ok(c.get(base)).text
    assert "Service Order" not in ok(a.get("/console/templates")).text


def test_authoring_problems_are_listed_next_to_the_fields(rt: Runtime, app: FastAPI,
                                                          org: tuple[Member, Member]) -> None:
    legal, _agent = org
    c = browser(app)
    token = login(c, legal)
    example = TemplateForm.example()
    bad_source = example.source + "\n{{ clause('no_such_clause') }}\n<script>x</script>"
    form = {"csrf_token": token, "key": "Bad Key", "name": "", "kind": "markdown",
            "source": bad_source, "variables": '[{"name": "fee", "type": "moneyy"}]',
            "roles": "[", "prefill": "{}", "sample_data": ""}
    r = ok(c.post("/console/templates", data=form), 422)  # roles is not JSON: parsed first
    assert "Roles is not valid JSON" in r.text and 'id="t-roles-error"' in r.text
    assert str(escape(bad_source)) in r.text  # kept, escaped
    r = ok(c.post("/console/templates", data={**form, "roles": example.roles}), 422)
    for field in ("key", "name", "source", "variables"):
        assert f'id="t-{field}-error"' in r.text, field
    assert "nothing was saved" in r.text and 'href="#t-variables"' in r.text
    assert len(services.list_templates(rt, legal.principal)) == 3  # the examples only
    # an existing key is a problem of the key field (409)
    r = ok(c.post("/console/templates", data={**form, "key": "mutual-nda", "name": "x",
                                              "source": example.source,
                                              "variables": example.variables,
                                              "roles": example.roles}), 409)
    assert 'id="t-key-error"' in r.text and "choose another key" in r.text


def test_clause_library_pages(rt: Runtime, app: FastAPI, org: tuple[Member, Member]) -> None:
    legal, agent = org
    c = browser(app)
    token = login(c, legal)
    assert "Limitation of Liability" in ok(c.get("/console/clauses")).text
    ok(c.get("/console/clauses/new"))
    r = ok(c.post("/console/clauses", data={"csrf_token": token, "key": "warranty",
                                            "title": "", "body": "{% import 'x' %}"}), 422)
    assert 'id="c-title-error"' in r.text and 'id="c-body-error"' in r.text
    ok(c.post("/console/clauses", data={"csrf_token": token, "key": "warranty",
                                        "title": "Warranty", "body": "Line one.\nLine two.\n"},
              follow_redirects=False), 303)
    for action in ("submit", "publish"):
        ok(c.post(f"/console/clauses/warranty/versions/1/{action}",
                  data={"csrf_token": token}, follow_redirects=False), 303)
    assert "published v1" in ok(c.get("/console/clauses/warranty")).text
    ok(c.get("/console/clauses/warranty/edit"))
    ok(c.post("/console/clauses/warranty/edit", data={
        "csrf_token": token, "title": "Warranty", "body": "Line one.\nLine 2.\n"},
        follow_redirects=False), 303)
    diff = ok(c.get("/console/clauses/warranty/diff"))
    assert '<span class="d-del">-Line two.</span>' in diff.text
    assert '<span class="d-add">+Line 2.</span>' in diff.text
    ok(c.post("/console/clauses/warranty/versions/1/retire", data={"csrf_token": token},
              follow_redirects=False), 303)
    assert "v-retired" in ok(c.get("/console/clauses/warranty")).text
    a = browser(app)
    login(a, agent)
    assert a.get("/console/clauses/new").status_code == 403


# -- who sees what -------------------------------------------------------------------------


def test_agents_cannot_author_and_see_published_templates_only(
        rt: Runtime, app: FastAPI, org: tuple[Member, Member]) -> None:
    legal, agent = org
    example = TemplateForm.example()
    services.create_template(rt, legal.principal, key="draft-only", name="Draft Only",
                             kind="markdown", source=example.source,
                             variables=example.parsed()[0]["variables"],
                             roles=example.parsed()[0]["roles"])
    c = browser(app)
    token = login(c, agent)
    listing = ok(c.get("/console/templates"))
    assert "Draft Only" not in listing.text and "new-template" not in listing.text
    assert all(f"/console/templates/{k}/send" in listing.text for k in TEMPLATES)
    for path in ("/console/templates/new", "/console/templates/mutual-nda/edit",
                 "/console/clauses/new", "/console/clauses/confidentiality/edit"):
        assert c.get(path).status_code == 403, path
    for path in ("/console/templates", "/console/templates/mutual-nda/edit",
                 "/console/templates/mutual-nda/versions/1/retire", "/console/clauses",
                 "/console/clauses/confidentiality/versions/1/retire"):
        r = c.post(path, data={"csrf_token": token, "key": "x", "name": "x",
                               "title": "x", "body": "x", "source": "x"})
        assert r.status_code == 403, path
    assert c.get("/console/templates/draft-only").status_code == 404
    assert c.get("/console/templates/draft-only/versions/1/preview.pdf").status_code == 404
    detail = ok(c.get("/console/templates/mutual-nda"))
    assert 'id="send"' in detail.text and 'id="edit"' not in detail.text
    assert "retire-1" not in ok(c.get("/console/templates/mutual-nda/versions/1")).text
    assert services.get_template(rt, legal.principal, "mutual-nda").versions[0].status == (
        "published")


def test_compliance_reads_but_cannot_send(rt: Runtime, app: FastAPI,
                                          org: tuple[Member, Member]) -> None:
    legal, _agent = org
    compliance = member(rt, role="compliance", org_id=legal.org_id)
    c = browser(app)
    login(c, compliance)
    listing = ok(c.get("/console/templates"))
    assert "Mutual Nondisclosure Agreement" in listing.text and "/send" not in listing.text
    assert c.get("/console/templates/mutual-nda/send").status_code == 403
    assert c.get("/console/templates/new").status_code == 403


def test_another_organisations_template_is_not_found(rt: Runtime, app: FastAPI,
                                                     org: tuple[Member, Member]) -> None:
    _legal, agent = org
    stranger_legal = member(rt, role="legal", org_name="Elsewhere Ltd")
    c = browser(app)
    token = login(c, stranger_legal)
    for path in ("/console/templates/mutual-nda", "/console/templates/mutual-nda/send",
                 "/console/templates/mutual-nda/versions/1",
                 "/console/templates/mutual-nda/versions/1/preview.pdf",
                 "/console/templates/mutual-nda/diff", "/console/templates/mutual-nda/edit",
                 "/console/clauses/confidentiality"):
        assert c.get(path).status_code == 404, path
    form = {**send_form(rt, agent, "mutual-nda"), "csrf_token": token}
    assert c.post("/console/templates/mutual-nda/send", data=form).status_code == 404
    assert c.post("/console/templates/mutual-nda/versions/1/retire",
                  data={"csrf_token": token}).status_code == 404
    assert "Mutual Nondisclosure" not in ok(c.get("/console/templates")).text


# -- agents send through the generated form ------------------------------------------------


@pytest.mark.parametrize("key", TEMPLATES)
def test_agent_sends_a_shipped_template(rt: Runtime, app: FastAPI,
                                        org: tuple[Member, Member], key: str) -> None:
    _legal, agent = org
    c = browser(app)
    token = login(c, agent)
    page = ok(c.get(f"/console/templates/{key}/send"))
    version = services.get_template_version(rt, agent.principal, key)
    for spec in version.variables:  # every input is labelled
        if spec["type"] != "list":
            ident = "f-" + re.sub(r"[^a-z0-9_]+", "-", spec["name"])
            assert f'<label for="{ident}"' in page.text or (
                f'<label class="check" for="{ident}"' in page.text), spec["name"]
    for role in version.roles:
        assert html.escape(role["name"]) in page.text
        assert f'name="r.{role["key"]}.email"' in page.text
    form = {**send_form(rt, agent, key), "csrf_token": token, "subject": f"{key} for Casey"}
    r = ok(c.post(f"/console/templates/{key}/send", data=form, follow_redirects=False), 303)
    match = re.fullmatch(r"/console/envelopes/([A-Za-z0-9_-]+)", r.headers["location"])
    assert match, r.headers["location"]
    envelope = ok(c.get(r.headers["location"]))
    assert re.search(r'id="envelope-status">sent<', envelope.text)
    assert f"{key} for Casey" in envelope.text
    view = envelopes.get(rt, agent.principal, match.group(1))
    added = {a["role"] for r in version.rules for a in r["then"]
             if a["action"] == "add_recipient"}  # only when their rule fires
    assert {x.email for x in view.recipients} == {
        NAMES[role["key"]][1] for role in version.roles if role["key"] not in added}


def test_send_form_offers_rows_money_enum_date_boolean(rt: Runtime, app: FastAPI,
                                                       org: tuple[Member, Member]) -> None:
    _legal, agent = org
    c = browser(app)
    login(c, agent)
    page = ok(c.get("/console/templates/support-services-agreement/send")).text
    assert page.count('name="v.covered_products[') == 5 * 3  # 5 empty rows, 3 columns
    assert page.count('name="v.sla_overrides[') == 4 * 3  # max_rows 4
    assert 'href="/console/templates/support-services-agreement/send?rows=10"' in page
    assert '<span class="currency" aria-hidden="true">USD</span>' in page
    assert 'type="number" id="f-annual_fee"' in page and 'step="0.01"' in page
    assert 'type="date" id="f-effective_date"' in page
    assert '<select id="f-tier" name="v.tier"' in page
    assert 'type="checkbox" id="f-auto_renew" name="bool.auto_renew" value="yes" checked' in page
    assert 'maxlength="200"' in page
    more = ok(c.get("/console/templates/support-services-agreement/send?rows=10")).text
    assert more.count('name="v.covered_products[') == 10 * 3


def test_problems_show_per_field_and_nothing_is_created(rt: Runtime, app: FastAPI,
                                                        org: tuple[Member, Member]) -> None:
    _legal, agent = org
    c = browser(app)
    token = login(c, agent)
    key = "support-services-agreement"
    form = {**send_form(rt, agent, key), "csrf_token": token, "subject": "Keep me"}
    form["v.customer.legal_name"] = ""  # required, and no customer record
    form["v.tier"] = "gold"  # not an option
    form["v.covered_products[1].seats"] = "0"  # below min
    form["v.covered_products[5].product"] = "Added in row 6"  # seats missing
    form["r.customer.email"] = "not-an-email"
    del form["bool.auto_renew"]  # unticked: "no", kept on re-render
    r = ok(c.post(f"/console/templates/{key}/send", data=form), 422)
    page = r.text
    assert 'id="form-errors"' in page and "nothing was saved" in page
    assert re.search(r'id="f-customer-legal_name-error"><li>Customer legal name is required',
                     page)
    assert 'id="f-tier-error"><li>Support tier must be one of standard, premium, enterprise' in (
        page)
    assert 'id="f-covered_products-1-seats-error"' in page
    assert "Covered products, row 2: Licensed seats must be at least 1" in page
    # blank rows between are dropped: row 6 became row 4 and keeps its text
    assert 'id="f-covered_products-3-seats-error"' in page
    assert 'name="v.covered_products[3].product" value="Added in row 6"' in page
    assert 'id="r-customer-error"' in page and 'href="#r-customer-name"' in page
    assert '<option value="gold" selected>gold (not an option)</option>' in page
    assert 'value="Keep me"' in page and 'value="not-an-email"' in page
    assert 'name="bool.auto_renew" value="yes"' in page
    assert 'name="bool.auto_renew" value="yes" checked' not in page
    assert envelope_count(rt, agent) == 0


def test_customer_record_prefills_and_typed_values_win(rt: Runtime, app: FastAPI,
                                                       org: tuple[Member, Member]) -> None:
    _legal, agent = org
    c = browser(app)
    token = login(c, agent)
    key = "mutual-nda"
    form = {**send_form(rt, agent, key), "csrf_token": token}
    form["v.customer.legal_name"] = ""
    record = '{"account": {"name": "Record Corp", "billing_address": "1 Record Way"}}'
    r = ok(c.post(f"/console/templates/{key}/send/preview", data={**form, "customer": record}))
    text = pdf_text(r.content)
    assert "Record Corp" in text and "Preview" in text
    r = ok(c.post(f"/console/templates/{key}/send/preview", data={
        **form, "customer": record, "v.customer.legal_name": "Typed Corp"}))
    assert "Typed Corp" in pdf_text(r.content) and "Record Corp" not in pdf_text(r.content)
    bad = ok(c.post(f"/console/templates/{key}/send", data={**form, "customer": "{nope"}), 422)
    assert 'id="customer-error"><li>The customer record is not valid JSON' in bad.text
    assert ">{nope</textarea>" in bad.text
    r = ok(c.post(f"/console/templates/{key}/send", data={**form, "customer": record},
                  follow_redirects=False), 303)
    assert envelope_count(rt, agent) == 1


def test_hostile_values_are_escaped(rt: Runtime, app: FastAPI,
                                    org: tuple[Member, Member]) -> None:
    _legal, agent = org
    c = browser(app)
    token = login(c, agent)
    key = "mutual-nda"
    hostile = "{{7*7}} <script>alert(1)</script> [[signature:customer]]"
    form = {**send_form(rt, agent, key), "csrf_token": token,
            "v.customer.legal_name": hostile, "v.purpose": "{% if 1 %}7*7{% endif %}"}
    r = ok(c.post(f"/console/templates/{key}/send/preview", data=form))
    assert r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)
    assert "{{7*7}}" in text and "<script>alert(1)</script>" in text
    assert "49 <script>" not in text and "{% if 1 %}7*7{% endif %}" in text
    # the form page shows them back escaped (a 422 because the email is missing)
    page = ok(c.post(f"/console/templates/{key}/send",
                     data={**form, "r.customer.email": ""}), 422).text
    assert "<script>alert(1)</script>" not in page
    assert "{{7*7}} &lt;script&gt;alert(1)&lt;/script&gt;" in page
    # never evaluated (random ids and tokens in the page may contain "49": look at the value)
    assert "49 &lt;script&gt;" not in page and ">49<" not in page
    assert envelope_count(rt, agent) == 0


# -- CSRF ----------------------------------------------------------------------------------


def test_every_post_needs_the_csrf_token(rt: Runtime, app: FastAPI,
                                         org: tuple[Member, Member]) -> None:
    legal, _agent = org
    c = browser(app)
    token = login(c, legal)
    example = TemplateForm.example()
    form = send_form(rt, legal, "mutual-nda")
    posts = {
        "/console/templates": {"key": "t1", "name": "T1", "kind": "markdown",
                               "source": example.source, "variables": example.variables,
                               "roles": example.roles},
        "/console/templates/mutual-nda/edit": {"source": "# changed"},
        "/console/templates/mutual-nda/versions/1/retire": {},
        "/console/templates/mutual-nda/send": form,
        "/console/templates/mutual-nda/send/preview": form,
        "/console/clauses": {"key": "c1", "title": "C1", "body": "text"},
        "/console/clauses/confidentiality/edit": {"title": "x", "body": "changed"},
        "/console/clauses/confidentiality/versions/1/retire": {},
    }
    for path, data in posts.items():
        for bad in ({}, {"csrf_token": "forged"}):
            r = c.post(path, data={**data, **bad}, follow_redirects=False)
            assert r.status_code == 403, (path, bad)
            assert "security token" in r.text
    assert len(services.list_templates(rt, legal.principal)) == 3
    assert services.get_template(rt, legal.principal, "mutual-nda").versions[-1].version == 1
    assert services.get_clause(rt, legal.principal, "confidentiality").versions[-1].status == (
        "published")
    assert envelope_count(rt, legal) == 0
    assert token  # the session itself is fine
    ok(c.post("/console/templates/mutual-nda/versions/1/retire", data={"csrf_token": token},
              follow_redirects=False), 303)


def test_legal_authors_routing_rules_in_the_console(rt: Runtime, app: FastAPI,
                                                     org: tuple[Member, Member]) -> None:
    legal, _agent = org
    c = browser(app)
    token = login(c, legal)
    example = TemplateForm.example()
    form = {"csrf_token": token, "key": "ruled-order", "name": "Ruled Order",
            "kind": "markdown", "source": example.source, "variables": example.variables,
            "roles": example.roles, "prefill": example.prefill,
            "sample_data": example.sample_data,
            "rules": '[{"id": "big", "description": "Big deals: the customer confirms by SMS",'
                     ' "when": {"var": "annual_fee", "op": "gt", "value": 50000},'
                     ' "then": [{"action": "require_auth", "role": "ghost",'
                     ' "method": "sms_otp"}]}]'}
    r = ok(c.post("/console/templates", data=form), 422)  # the role is not declared
    assert 'id="t-rules-error"' in r.text and "nothing was saved" in r.text
    assert "ruled-order" not in [t.key for t in services.list_templates(rt, legal.principal)]
    role = TemplateForm.example().roles.split('"key": "')[1].split('"')[0]
    form["rules"] = form["rules"].replace('"ghost"', f'"{role}"')
    ok(c.post("/console/templates", data=form, follow_redirects=False), 303)
    version = services.get_template_version(rt, legal.principal, "ruled-order", 1)
    assert [rule["id"] for rule in version.rules] == ["big"]
    edit = ok(c.get("/console/templates/ruled-order/edit"))
    assert "Big deals: the customer confirms by SMS" in edit.text  # kept when editing
