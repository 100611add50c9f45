"""`accord outbox ...`: list the organisation's outbox messages (dead ones with their last
error) and queue a dead one again. Every command acts as a user (``--as EMAIL`` or
ACCORD_AS) who must be an admin (``outbox:manage``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from accord import terminal
from accord.terminal import AsUser, guard

app = typer.Typer(help="The outbox: emails, webhooks and background work waiting, delivered "
                  "or dead; replay a dead message.", no_args_is_help=True,
                  add_completion=False)


def _time(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else "-"


@app.command("list")
def list_cmd(as_user: AsUser,
             dead: Annotated[bool, typer.Option(
                 "--dead", help="Only messages that failed for good (replayable).")] = False,
             limit: Annotated[int, typer.Option(min=1, max=200)] = 50) -> None:
    """List the organisation's outbox messages, newest first (with --dead: most recently
    failed first)."""
    from accord.delivery import services

    rt, p = terminal.acting_as(as_user)
    rows = guard(lambda: services.list_outbox(rt, p, status="dead" if dead else None,
                                              limit=limit))
    table = Table()
    table.add_column("id", no_wrap=True, min_width=36)  # whole, to copy into `replay`
    for name in ("kind", "to", "status", "attempts", "created", "last attempt / due",
                 "last error"):
        table.add_column(name)
    for m in rows:
        table.add_row(m.id, m.kind, m.to or "-", m.status, str(m.attempts),
                      _time(m.created_at), _time(m.next_attempt_at), m.last_error or "-")
    terminal.out.print(table)
    if not rows:
        terminal.out.print("no dead messages" if dead else "the outbox is empty", highlight=False)


@app.command("replay")
def replay(message_id: Annotated[str, typer.Argument(help="The outbox message id.")],
           as_user: AsUser) -> None:
    """Queue a dead message again: due now, with a fresh set of attempts."""
    from accord.delivery import services

    rt, p = terminal.acting_as(as_user)
    view = guard(lambda: services.replay(rt, p, message_id))
    terminal.out.print(f"replayed {view.id} ({view.kind})", highlight=False)
