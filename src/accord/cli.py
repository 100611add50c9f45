"""The `accord` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from accord import terminal
from accord.bulk.cli import bulk_send  # typer and rich only, at import
from accord.contracts.cli import app as contracts_app  # typer and rich only, at import
from accord.delivery.cli import app as outbox_app  # typer and rich only
from accord.drafting.cli import app as templates_app  # typer and rich only, at import
from accord.envelopes.cli import app as envelopes_app  # typer and rich only, at import
from accord.storage.cli import app as keys_app  # typer and rich only, at import
from accord.webhooks.cli import app as webhooks_app  # typer and rich only

app = typer.Typer(help="Accord: contract workflow and e-signature for support teams.",
                  no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
users_app = typer.Typer(help="Manage console users and API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(templates_app, name="templates")
app.command("bulk-send")(bulk_send)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(outbox_app, name="outbox")
app.add_typer(envelopes_app, name="envelopes")
app.add_typer(keys_app, name="keys")
app.add_typer(contracts_app, name="contracts")
if TYPE_CHECKING:
    from accord.access import Principal
    from accord.accounts.services import DemoCredentials
    from accord.runtime import Runtime


def _runtime() -> Runtime:
    """The runtime every command uses, with every feature's wiring installed."""
    from accord import registry
    from accord.config import get_settings
    from accord.runtime import build_runtime

    registry.install()
    return build_runtime(get_settings())


def _user(rt: Runtime, email: str) -> Principal:
    from accord.accounts.services import principal_for_email

    return principal_for_email(rt, email)


def _api_key(rt: Runtime, key: str) -> Principal:
    from accord.accounts.services import authenticate_api_key

    return authenticate_api_key(rt, key)


@app.callback()
def _setup() -> None:
    # before any command runs: how every feature's commands build the runtime and resolve
    # `--as` / `--api-key` (accord.terminal); `_runtime` is read now, so tests may patch it
    terminal.install(terminal.Terminal(runtime=_runtime, user=_user, api_key=_api_key))


def prepare(rt: Runtime) -> DemoCredentials | None:
    """Migrate, seed the demo organisation on a fresh database, make sealing identities."""
    from accord.accounts.services import organisation_ids, seed_demo
    from accord.documents.services import ensure_identity
    from accord.migrate import upgrade

    upgrade(rt.db.engine)
    creds = seed_demo(rt) if rt.settings.seed_demo else None
    if creds is not None:
        from accord.accounts.services import user_id_by_email
        from accord.drafting.services import seed_examples

        seed_examples(rt, creds.org_id, publisher_user_id=user_id_by_email(rt, creds.email))
    for org_id in organisation_ids(rt):
        ensure_identity(rt, org_id)
    return creds


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="Bind address (ACCORD_HOST).")] = None,
          port: Annotated[int | None, typer.Option(help="Port (ACCORD_PORT).")] = None) -> None:
    """Start Accord: migrate, seed the demo organisation on first start, run the web app
    and (unless ACCORD_RUN_WORKER=false) the in-process delivery worker."""
    import uvicorn

    from accord.app import create_app
    from accord.logs import install

    rt = _runtime()
    creds = prepare(rt)
    h, p = host or rt.settings.host, port or rt.settings.port
    url = f"http://{h}:{p}"
    terminal.out.print(f"[bold]Accord[/bold] on {rt.settings.sqlalchemy_url.split('://')[0]} — "
                       f"data in {rt.settings.data_dir.resolve()}")
    terminal.out.print(f"Console: {url}/console   API docs: {url}/docs")
    if creds:
        cred_file = rt.settings.data_dir / "demo-credentials.txt"
        cred_file.write_text(f"email: {creds.email}\npassword: {creds.password}\n"
                             f"api key: {creds.api_key}\n")
        cred_file.chmod(0o600)
        terminal.out.print(f"Demo organisation seeded. Log in as [bold]{creds.email}[/bold] with "
                           f"password [bold]{creds.password}[/bold]")
        terminal.out.print(f"API key (shown once, also in {cred_file}): {creds.api_key}")
    config = uvicorn.Config(create_app(rt), host=h, port=p, log_level="info")
    server = uvicorn.Server(config)
    config.load()  # configures uvicorn's loggers; add the token filter after that
    install()
    server.run()


@app.command()
def worker(once: Annotated[bool, typer.Option(help="Deliver what is due, then exit.")]
           = False) -> None:
    """Run a delivery worker (emails, webhooks, background tasks such as sealing completed
    envelopes and bulk send) and the lifecycle sweep (expiry, expiry warnings,
    reminders). Run several against PostgreSQL to scale out;
    they never deliver the same message, or send the same reminder, twice."""
    import signal
    import threading

    from accord.delivery.worker import Worker, drain
    from accord.migrate import upgrade
    from accord.registry import run_sweeps, sweep_once

    rt = _runtime()
    upgrade(rt.db.engine)
    if once:
        for name, swept in sweep_once(rt).items():
            terminal.out.print(f"{name} sweep: {swept}")
        terminal.out.print(f"delivered {drain(rt)} message(s)")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sweeper = threading.Thread(target=run_sweeps, args=(rt, stop), daemon=True,
                               name="accord-lifecycle")
    sweeper.start()
    terminal.out.print("worker running; Ctrl-C to stop")
    Worker(rt, lease_s=rt.settings.worker_lease_s).run_forever(stop)
    sweeper.join(timeout=10)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to ACCORD_DATABASE_URL (or the embedded SQLite)."""
    from accord.migrate import current, upgrade

    rt = _runtime()
    upgrade(rt.db.engine)
    terminal.out.print(f"database at revision {current(rt.db.engine)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision."""
    from accord.migrate import current

    terminal.out.print(current(_runtime().db.engine) or "empty (run `accord db upgrade`)")


@users_app.command("create")
def users_create(email: str, name: str,
                 role: Annotated[str, typer.Option(help="admin, legal, manager, agent or "
                                                   "compliance")] = "agent",
                 org: Annotated[str, typer.Option(help="Organisation slug.")] = "demo") -> None:
    """Create a console user; the password is asked for (or read from stdin)."""
    from sqlalchemy import select

    from accord.accounts.models import Organisation
    from accord.accounts.services import create_user
    from accord.errors import AccordError
    from accord.validation import check_fields, require_email

    rt = _runtime()
    prepare(rt)
    with rt.db.uow() as uow:
        org_id = uow.session.scalar(select(Organisation.id).where(Organisation.slug == org))
    if org_id is None:
        terminal.err.print(f"no organisation with slug {org!r}")
        raise typer.Exit(2)
    try:  # before asking for the password
        email = require_email(email)
        check_fields(name=(name, False))
    except AccordError as exc:
        terminal.err.print(f"error ({exc.code}): {exc.message}")
        raise typer.Exit(2) from exc
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        create_user(rt, org_id, email=email, name=name, role=role, password=password)
    except AccordError as exc:
        terminal.err.print(f"error ({exc.code}): {exc.message}")
        raise typer.Exit(2) from exc
    terminal.out.print(f"created {role} {email}")


@users_app.command("api-key")
def users_api_key(email: str, name: Annotated[str, typer.Option()] = "cli") -> None:
    """Create an API key for a user and print it (it is shown only once)."""
    from accord.accounts.services import create_api_key, user_id_by_email
    from accord.errors import AccordError

    rt = _runtime()
    try:
        _id, key = create_api_key(rt, user_id_by_email(rt, email), name)
    except AccordError as exc:
        terminal.err.print(f"error ({exc.code}): {exc.message}")
        raise typer.Exit(2) from exc
    terminal.out.print(key)


@users_app.command("set-password")
def users_set_password(email: str) -> None:
    """Set a user's password (asked for, or read from stdin)."""
    from accord.accounts.services import set_password
    from accord.errors import AccordError

    rt = _runtime()
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        set_password(rt, email, password)
    except AccordError as exc:
        terminal.err.print(f"error ({exc.code}): {exc.message}")
        raise typer.Exit(2) from exc
    terminal.out.print("password changed")


@app.command()
def demo(out_dir: Annotated[Path, typer.Option("--out", help="Where to write the sealed "
                                               "PDF and the audit trail.")]) -> None:
    """Run the whole lifecycle on the embedded instance (ACCORD_DATA_DIR, created if new):
    an envelope with two signers in sequence and a cc, signed through the same HTTP routes
    a browser uses, completed and sealed. No network is used."""
    from accord.demo import run_demo
    from accord.errors import AccordError

    try:
        pdf_path, audit_path = run_demo(_runtime(), out_dir, console=terminal.out, prepare=prepare)
    except AccordError as exc:
        terminal.err.print(f"demo failed ({exc.code}): {exc.message}")
        raise typer.Exit(1) from exc
    terminal.out.print(str(pdf_path))
    terminal.out.print(str(audit_path))


@app.command()
def verify(file: Annotated[Path, typer.Argument(help="A sealed PDF, or a signed audit-trail "
                                                "export (.json).")],
           trust: Annotated[list[Path] | None, typer.Option(
               help="Extra trusted root certificate (PEM); repeatable. The roots of every "
                    "organisation in this instance are trusted too.")] = None,
           pdf: Annotated[Path | None, typer.Option(
               "--pdf", help="With an audit export: the sealed PDF it belongs to. Its "
                             "SHA-256 must be the one the export names, it must verify, "
                             "and its embedded audit trail must match the export's events "
                             "up to the seal.")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
           = False) -> None:
    """Check a sealed PDF or a signed audit-trail export offline; exit 0 only if every
    check holds, 1 if any fails, 2 if a file cannot be read.

    PDF: the seal is intact, covers the whole file, chains to a trusted organisation root,
    has a valid timestamp; the embedded audit trail's hash links hold; and the document hash
    recorded in it matches the file.

    Audit export (.json): it is signed by the organisation's seal key (refused if unsigned);
    the signature verifies (refused if any event was edited, re-hashed, removed or the tail
    cut); the signer chains to a trusted root (refused if signed by another organisation or
    not anchored); the trail is not empty, starts with envelope:created and ends as its
    status says (a completed one has every signer's recipient:signed, envelope:completed
    and document:sealed)."""
    from accord.documents.trust import instance_roots
    from accord.documents.verify import verify_audit_json, verify_pdf

    is_json = file.suffix.lower() == ".json"
    if pdf is not None and not is_json:
        terminal.err.print("--pdf goes with an audit-trail export (.json), not with a PDF")
        raise typer.Exit(2)
    try:
        data = file.read_bytes()
        pdf_data = pdf.read_bytes() if pdf is not None else None
        roots = instance_roots() + [p.read_text() for p in trust or []]
    except OSError as exc:
        terminal.err.print(f"cannot read {exc.filename}: {exc.strerror}")
        raise typer.Exit(2) from exc
    report = (verify_audit_json(data, roots, pdf=pdf_data) if is_json
              else verify_pdf(data, roots))
    if as_json:
        terminal.out.print_json(json.dumps({"ok": report.ok, "envelope_id": report.envelope_id,
                                            "checks": [c.__dict__ for c in report.checks]}))
    else:
        terminal.out.print(f"[bold]{file}[/bold]" + (f" — envelope {report.envelope_id}"
                                                      if report.envelope_id else ""))
        for c in report.checks:
            mark = "[green]PASS[/green]" if c.ok else "[red]FAIL[/red]"
            terminal.out.print(f"  {mark} {c.name}: {c.detail}", highlight=False)
        terminal.out.print("[bold green]VALID[/bold green]" if report.ok
                           else "[bold red]NOT VALID[/bold red]")
    raise typer.Exit(0 if report.ok else 1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
