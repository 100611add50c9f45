"""`accord envelopes ...`: list and show envelopes, and the sender's actions on recipients
(resend, correct, reassign, remind) and envelopes (reminder interval, void).

Every command acts as someone, with that one's role, organisation and team visibility:
``--as EMAIL`` (or ACCORD_AS) acts as that console user, for operators on the server;
``--api-key KEY`` (or ACCORD_API_KEY) acts as the key's owner within the key's scopes.
Both run the same services as the API on the local database (ACCORD_DATABASE_URL), and
the audit trail names the user (``user:<email>``). A recipient is given by id or email.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from accord import terminal
from accord.terminal import guard

if TYPE_CHECKING:
    from accord.access import Principal
    from accord.envelopes.services import EnvelopeView
    from accord.runtime import Runtime

app = typer.Typer(help="Envelopes: list, show, and act on recipients.", no_args_is_help=True,
                  add_completion=False)

AsUser = Annotated[str | None, typer.Option(
    "--as", envvar="ACCORD_AS", help="Act as this console user (email).")]
ApiKey = Annotated[str | None, typer.Option(
    "--api-key", envvar="ACCORD_API_KEY", help="Act as this API key's owner, within its "
    "scopes (instead of --as).")]
EnvelopeId = Annotated[str, typer.Argument(help="The envelope id.")]
RecipientRef = Annotated[str, typer.Argument(help="The recipient's id or email.")]


def _context(as_user: str | None, api_key: str | None) -> tuple[Runtime, Principal]:
    if (as_user is None) == (api_key is None):
        terminal.err.print("say who acts: --as EMAIL or --api-key KEY (one of them)")
        raise typer.Exit(2)
    if api_key is not None:
        return terminal.acting_with_key(api_key)
    return terminal.acting_as(str(as_user))


def _recipient_id(rt: Runtime, p: Principal, envelope_id: str, ref: str) -> str:
    from accord.envelopes import services

    if "@" not in ref:
        return ref
    env = guard(lambda: services.get(rt, p, envelope_id))
    found = [r.id for r in env.recipients if r.email == ref.strip().lower()]
    if len(found) != 1:
        terminal.err.print(f"error (recipient_not_found): {'no' if not found else 'more than one'} "
                           f"recipient {ref!r} on this envelope; give the recipient id")
        raise typer.Exit(2)
    return found[0]


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else "-"


def _print(env: EnvelopeView) -> None:
    terminal.out.print(f"[bold]{env.subject}[/bold] ({env.id}) — {env.status}", highlight=False)
    table = Table("id", "order", "name", "email", "role", "status", "completed")
    for r in env.recipients:
        table.add_row(r.id, str(r.routing_order), r.name, r.email, r.role, r.status,
                      _when(r.completed_at))
    terminal.out.print(table)


@app.command("list")
def list_cmd(as_user: AsUser = None, api_key: ApiKey = None,
             status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
             limit: Annotated[int, typer.Option(min=1, max=200)] = 50) -> None:
    """List the envelopes you may see, newest first."""
    from accord.envelopes import services

    rt, p = _context(as_user, api_key)
    page = guard(lambda: services.list_envelopes(rt, p, status=status, limit=limit))
    table = Table("id", "subject", "status", "created")
    for e in page.items:
        table.add_row(e.id, e.subject, e.status, _when(e.created_at))
    terminal.out.print(table)
    terminal.out.print(f"{len(page.items)} of {page.total}")


@app.command("show")
def show(envelope_id: EnvelopeId, as_user: AsUser = None, api_key: ApiKey = None) -> None:
    """An envelope's recipients, their reminders and the expiry."""
    from accord.envelopes import lifecycle, services

    rt, p = _context(as_user, api_key)
    env = guard(lambda: services.get(rt, p, envelope_id))
    _print(env)
    life = guard(lambda: lifecycle.get_lifecycle(rt, p, envelope_id))
    own = "" if life.envelope_reminder_interval_hours is not None else " (organisation's)"
    every = (f"every {life.reminder_interval_hours} h{own}" if life.reminder_interval_hours
             else f"off{own}")
    terminal.out.print(f"reminders: {every}; expires {_when(life.expires_at)}; warning "
                       f"{_when(life.expiry_warning_at)}"
                       + (f" (sent {_when(life.expiry_warned_at)})"
                          if life.expiry_warned_at else ""),
                       highlight=False)
    for r in life.recipients:
        if r.reminder_count or r.next_reminder_at:
            terminal.out.print(f"  {r.email}: {r.reminder_count} reminder(s), next "
                               f"{_when(r.next_reminder_at)}", highlight=False)


@app.command("resend")
def resend(envelope_id: EnvelopeId, recipient: RecipientRef, as_user: AsUser = None,
           api_key: ApiKey = None) -> None:
    """Send a recipient whose turn it is a new link (the old one dies)."""
    from accord.envelopes import services

    rt, p = _context(as_user, api_key)
    rid = _recipient_id(rt, p, envelope_id, recipient)
    _print(guard(lambda: services.resend(rt, p, envelope_id, rid)))


@app.command("correct")
def correct(envelope_id: EnvelopeId, recipient: RecipientRef, as_user: AsUser = None,
            api_key: ApiKey = None,
            name: Annotated[str | None, typer.Option(help="The corrected name.")] = None,
            email: Annotated[str | None, typer.Option(help="The corrected email.")] = None,
            phone: Annotated[str | None, typer.Option(help="The corrected E.164 phone.")]
            = None) -> None:
    """Correct a recipient's name, email or phone before they act (a changed email or
    phone kills the old link; a new one goes out if it is their turn)."""
    from accord.envelopes import services

    if name is None and email is None and phone is None:
        terminal.err.print("give --name, --email or --phone")
        raise typer.Exit(2)
    rt, p = _context(as_user, api_key)
    rid = _recipient_id(rt, p, envelope_id, recipient)
    _print(guard(lambda: services.correct(rt, p, envelope_id, rid, name=name, email=email,
                                          phone=phone)))


def _kba(pairs: list[str] | None) -> list[tuple[str, str]]:
    out_pairs = []
    for text in pairs or []:
        question, sep, answer = text.partition("=")
        if not sep or not question.strip() or not answer.strip():
            raise typer.BadParameter(f"{text!r}: use --kba \"QUESTION=ANSWER\"")
        out_pairs.append((question.strip(), answer.strip()))
    return out_pairs


@app.command("reassign")
def reassign(envelope_id: EnvelopeId, recipient: RecipientRef,
             name: Annotated[str, typer.Option(help="The new person's name.")],
             email: Annotated[str, typer.Option(help="The new person's email.")],
             as_user: AsUser = None, api_key: ApiKey = None,
             phone: Annotated[str | None, typer.Option(help="E.164, if the part uses SMS "
                                                       "codes.")] = None,
             access_code: Annotated[str | None, typer.Option(
                 help="A new access code, if the part uses one.")] = None,
             kba: Annotated[list[str] | None, typer.Option(
                 help="\"QUESTION=ANSWER\", if the part uses questions; repeatable.")]
             = None) -> None:
    """Give a recipient's part to another person (old link and sessions die)."""
    from accord.envelopes import lifecycle

    pairs = _kba(kba)
    rt, p = _context(as_user, api_key)
    rid = _recipient_id(rt, p, envelope_id, recipient)
    _print(guard(lambda: lifecycle.reassign(rt, p, envelope_id, rid, name=name, email=email,
                                            phone=phone, access_code=access_code,
                                            kba=pairs)))


@app.command("remind")
def remind(envelope_id: EnvelopeId, recipient: RecipientRef, as_user: AsUser = None,
           api_key: ApiKey = None) -> None:
    """Remind a recipient whose turn it is now (same link)."""
    from accord.envelopes import lifecycle

    rt, p = _context(as_user, api_key)
    rid = _recipient_id(rt, p, envelope_id, recipient)
    guard(lambda: lifecycle.remind(rt, p, envelope_id, rid))
    terminal.out.print(f"reminder queued for {recipient}", highlight=False)


@app.command("reminders")
def reminders(envelope_id: EnvelopeId, as_user: AsUser = None, api_key: ApiKey = None,
              every: Annotated[int | None, typer.Option(
                  min=0, max=720, help="Hours between reminders (0 = none).")] = None,
              organisation: Annotated[bool, typer.Option(
                  "--organisation", help="Follow the organisation's interval.")] = False,
              ) -> None:
    """Set the envelope's own reminder interval, or follow the organisation's."""
    from accord.envelopes import lifecycle

    if (every is None) == (not organisation):
        terminal.err.print("give --every HOURS or --organisation")
        raise typer.Exit(2)
    rt, p = _context(as_user, api_key)
    life = guard(lambda: lifecycle.set_reminders(rt, p, envelope_id,
                                                 None if organisation else every))
    terminal.out.print(f"reminders every {life.reminder_interval_hours} h"
                       if life.reminder_interval_hours else "reminders off", highlight=False)


@app.command("void")
def void(envelope_id: EnvelopeId,
         reason: Annotated[str, typer.Option(help="Why (notified recipients see it).")],
         as_user: AsUser = None, api_key: ApiKey = None) -> None:
    """Void a draft or sent envelope; every link dies."""
    from accord.envelopes import services

    rt, p = _context(as_user, api_key)
    _print(guard(lambda: services.void(rt, p, envelope_id, reason)))
