"""`accord templates ...`: list, show, upload, submit, publish, preview and send templates,
seed the shipped examples. Every command acts as a user (``--as EMAIL`` or ACCORD_AS) with
that user's role and organisation."""

from __future__ import annotations

import json
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from accord import terminal
from accord.terminal import AsUser, guard

app = typer.Typer(help="Templates and the clause library.", no_args_is_help=True,
                  add_completion=False)
VersionOpt = Annotated[int | None, typer.Option("--version", min=1,
                                                help="A version number (default: latest).")]


def _read_json(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        value = json.loads(path.read_text())
    except OSError as exc:
        terminal.err.print(f"cannot read {what} file {path}: {exc.strerror}")
        raise typer.Exit(2) from exc
    except json.JSONDecodeError as exc:
        terminal.err.print(f"{what} file {path} is not valid JSON: {exc}")
        raise typer.Exit(2) from exc
    if not isinstance(value, dict):
        terminal.err.print(f"{what} file {path} must hold a JSON object")
        raise typer.Exit(2)
    return value


def parse_recipient(text: str) -> tuple[str, dict[str, str]]:
    """``customer="Ann Lee <ann@example.com>"`` -> ("customer", {name, email})."""
    role, sep, who = text.partition("=")
    name, email = parseaddr(who.strip().strip("\"'"))
    if not sep or not role.strip() or "@" not in email:
        raise typer.BadParameter(f"{text!r}: use ROLE=\"Name <email>\"")
    return role.strip(), {"name": name or email, "email": email}


@app.command("list")
def list_cmd(as_user: AsUser) -> None:
    """List the templates you may see."""
    from accord.drafting import services

    rt, p = terminal.acting_as(as_user)
    rows = guard(lambda: services.list_templates(rt, p))
    table = Table(Column("key", no_wrap=True), "name", "kind", "latest", "status",
                  "published")
    for t in rows:
        table.add_row(t.key, t.name, t.kind, f"v{t.latest_version}", t.latest_status,
                      f"v{t.published_version}" if t.published_version else "-")
    terminal.out.print(table)


@app.command("show")
def show(key: str, as_user: AsUser, version: VersionOpt = None) -> None:
    """Show a template's versions, and one version's details."""
    from accord.drafting import services

    rt, p = terminal.acting_as(as_user)
    tpl = guard(lambda: services.get_template(rt, p, key))
    v = guard(lambda: services.get_template_version(rt, p, key, version))
    terminal.out.print(f"[bold]{tpl.name}[/bold] ({tpl.key}, {tpl.kind})", highlight=False)
    table = Table("version", "status", "source sha256", "published")
    for s in tpl.versions:
        table.add_row(f"v{s.version}", s.status, (s.source_sha256 or "-")[:16],
                      s.published_at.isoformat() if s.published_at else "-")
    terminal.out.print(table)
    terminal.out.print(f"{v.label} ({v.status}) roles: "
                       + ", ".join(f"{r['key']} ({r.get('type', 'signer')})" for r in v.roles),
                       highlight=False)
    terminal.out.print("variables: " + ", ".join(str(x.get("name")) for x in v.variables),
                       highlight=False)
    for rule in v.rules:
        terminal.out.print(f"rule {rule.get('id')}: {rule.get('description')}", highlight=False)
    if v.pinned_clauses:
        terminal.out.print("pinned clauses: " + ", ".join(
            f"{k} v{pin['version']}" for k, pin in sorted(v.pinned_clauses.items())),
            highlight=False)


@app.command("upload")
def upload(folder: Annotated[Path, typer.Argument(help="A folder with template.json (key, "
                                                  "name, kind, variables, roles, prefill, "
                                                  "sample_data, rules) and source.md or "
                                                  "source.html, like the shipped examples.")],
           as_user: AsUser) -> None:
    """Create a template from a folder, or save it as a new draft version of the template
    with that key (legal or admin). Every problem is listed at once."""
    from accord.drafting import services
    from accord.drafting.examples import read_template_folder
    from accord.errors import NotFound

    try:
        seed = read_template_folder(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        terminal.err.print(f"cannot read template folder {folder}: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    rt, p = terminal.acting_as(as_user)
    content: dict[str, Any] = {"source": seed.source, "variables": seed.variables,
                               "roles": seed.roles, "prefill": seed.prefill,
                               "sample_data": seed.sample_data or None, "rules": seed.rules,
                               "contract": seed.contract}
    try:
        services.get_template(rt, p, seed.key)
    except NotFound:
        guard(lambda: services.create_template(rt, p, key=seed.key, name=seed.name,
                                               kind=seed.kind, **content))
        terminal.out.print(f"created {seed.key} v1 (draft)", highlight=False)
        return
    view = guard(lambda: services.edit_template(rt, p, seed.key, **content))
    latest = view.versions[-1]
    terminal.out.print(f"saved {seed.key} v{latest.version} ({latest.status})", highlight=False)


@app.command("submit")
def submit(key: str, as_user: AsUser, version: VersionOpt = None) -> None:
    """Submit a draft template version for review (legal or admin)."""
    from accord.drafting import services

    rt, p = terminal.acting_as(as_user)
    guard(lambda: services.submit_template(rt, p, key, version))
    terminal.out.print(f"submitted {key} for review", highlight=False)


@app.command("publish")
def publish(key: str, as_user: AsUser, version: VersionOpt = None) -> None:
    """Approve and publish a template version (legal or admin)."""
    from accord.drafting import services

    rt, p = terminal.acting_as(as_user)
    view = guard(lambda: services.publish_template(rt, p, key, version))
    pub = view.published_version
    terminal.out.print(f"published {key} v{pub}", highlight=False)


@app.command("preview")
def preview(key: str, as_user: AsUser,
            out_file: Annotated[Path, typer.Option("--out", help="Where to write the PDF.")],
            data: Annotated[Path | None, typer.Option(help="Variable values (JSON); "
                                                      "default: the sample data.")] = None,
            customer: Annotated[Path | None, typer.Option(help="A customer record (JSON) "
                                                          "for prefill.")] = None,
            version: VersionOpt = None) -> None:
    """Render a template version to a PDF preview."""
    from accord.drafting import services

    values, record = _read_json(data, "data"), _read_json(customer, "customer")
    rt, p = terminal.acting_as(as_user)
    pdf = guard(lambda: services.preview(rt, p, key=key, version=version, data=values,
                                         customer=record))
    out_file.write_bytes(pdf)
    terminal.out.print(str(out_file))


@app.command("send")
def send(key: str, as_user: AsUser,
         recipient: Annotated[list[str], typer.Option(help="ROLE=\"Name <email>\", once "
                                                      "per role.")],
         data: Annotated[Path | None, typer.Option(help="Variable values (JSON).")] = None,
         customer: Annotated[Path | None, typer.Option(help="A customer record (JSON) for "
                                                       "prefill.")] = None,
         subject: Annotated[str | None, typer.Option(help="Default: the template "
                                                     "name.")] = None,
         version: VersionOpt = None,
         send_now: Annotated[bool, typer.Option("--send/--draft", help="Send at once, or "
                                                "keep a draft envelope.")] = False) -> None:
    """Create an envelope from a published template (and send it with --send)."""
    from accord.drafting import services
    from accord.envelopes.services import Actor

    recipients = dict(parse_recipient(r) for r in recipient)
    values, record = _read_json(data, "data") or {}, _read_json(customer, "customer")
    rt, p = terminal.acting_as(as_user)
    env_id = guard(lambda: services.create_from_template(
        rt, p, template_key=key, version=version, data=values, recipients=recipients,
        customer=record, subject=subject, send=send_now, actor=Actor(f"user:{p.email}")))
    terminal.out.print(f"envelope {env_id} {'sent' if send_now else 'created as a draft'}",
                       highlight=False)


@app.command("seed-examples")
def seed_examples(org: Annotated[str, typer.Option(help="Organisation slug.")],
                  as_user: AsUser) -> None:
    """Publish the shipped example clauses and templates in an organisation (keys that
    exist are left alone). The user must be legal or admin there."""
    from accord.accounts.services import org_id_by_slug
    from accord.drafting import services
    from accord.drafting.domain import Action, may

    rt, p = terminal.acting_as(as_user)
    org_id = guard(lambda: org_id_by_slug(rt, org))
    if p.org_id != org_id or not may(p.role, Action.PUBLISH):
        terminal.err.print(f"{as_user} must be legal or admin in {org}")
        raise typer.Exit(2)
    guard(lambda: services.seed_examples(rt, org_id, publisher_user_id=p.user_id))
    terminal.out.print(f"examples seeded in {org}", highlight=False)
