"""`accord webhooks ...`: list, add, test and delete endpoints, list messages, replay.
Every command acts as a user (``--as EMAIL`` or ACCORD_AS) who must be an admin."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from accord import terminal
from accord.terminal import AsUser, guard

app = typer.Typer(help="Outbound webhooks (Standard Webhooks): endpoints and deliveries.",
                  no_args_is_help=True, add_completion=False)


def _time(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else "-"


@app.command("list")
def list_cmd(as_user: AsUser) -> None:
    """List the organisation's webhook endpoints."""
    from accord.webhooks import services as webhooks

    rt, p = terminal.acting_as(as_user)
    rows = guard(lambda: webhooks.list_endpoints(rt, p))
    table = Table("id", "url", "events", "status", "last success")
    for e in rows:
        status = "enabled" if e.enabled else f"disabled ({e.disabled_reason or ''})"
        if e.enabled and e.failing_since:
            status += f", failing since {_time(e.failing_since)}"
        table.add_row(e.id, e.url, ", ".join(e.event_types) or "every event", status,
                      _time(e.last_success_at))
    terminal.out.print(table)


@app.command("add")
def add(url: str, as_user: AsUser,
        event: Annotated[list[str] | None, typer.Option(
            help="An event type to receive (repeat it); default: every event.")] = None,
        description: Annotated[str, typer.Option(help="A note for people.")] = "") -> None:
    """Register an endpoint and print its signing secret (shown this once)."""
    from accord.webhooks import services as webhooks

    rt, p = terminal.acting_as(as_user)
    created = guard(lambda: webhooks.create_endpoint(rt, p, url=url, description=description,
                                                     event_types=event or []))
    terminal.out.print(f"endpoint {created.endpoint.id}", highlight=False)
    terminal.out.print(f"secret {created.secret}", highlight=False)
    terminal.err.print("The secret is shown only this once: store it with the receiver.")


@app.command("test")
def test_cmd(endpoint_id: str, as_user: AsUser) -> None:
    """Queue a webhook.test event for one endpoint."""
    from accord.webhooks import services as webhooks

    rt, p = terminal.acting_as(as_user)
    msg = guard(lambda: webhooks.send_test(rt, p, endpoint_id))
    terminal.out.print(f"queued {msg.id}", highlight=False)


@app.command("delete")
def delete(endpoint_id: str, as_user: AsUser) -> None:
    """Delete an endpoint with its messages."""
    from accord.webhooks import services as webhooks

    rt, p = terminal.acting_as(as_user)
    guard(lambda: webhooks.delete_endpoint(rt, p, endpoint_id))
    terminal.out.print(f"deleted {endpoint_id}", highlight=False)


@app.command("messages")
def messages(as_user: AsUser,
             endpoint: Annotated[str | None, typer.Option(help="Only this endpoint.")] = None,
             status: Annotated[str | None, typer.Option(
                 help="pending, delivered, dead or failed.")] = None,
             limit: Annotated[int, typer.Option(min=1, max=200)] = 50) -> None:
    """List messages, newest first."""
    from accord.webhooks import services as webhooks

    rt, p = terminal.acting_as(as_user)
    rows = guard(lambda: webhooks.list_messages(rt, p, endpoint_id=endpoint, status=status,
                                                limit=limit))
    table = Table("id", "event", "endpoint", "created", "status", "failed attempts",
                  "last error")
    for m in rows:
        table.add_row(m.id, m.event_type, m.endpoint_id, _time(m.created_at), m.status,
                      str(m.attempts), m.last_error or "-")
    terminal.out.print(table)


@app.command("replay")
def replay(as_user: AsUser,
           message_id: Annotated[str | None, typer.Argument(
               help="The message (webhook-id) to send again.")] = None,
           endpoint: Annotated[str | None, typer.Option(
               help="Replay every dead message of this endpoint instead.")] = None) -> None:
    """Send a dead (or delivered) message again, or every dead message of an endpoint."""
    from accord.webhooks import services as webhooks

    if (message_id is None) == (endpoint is None):
        terminal.err.print("give a MESSAGE_ID or --endpoint ID (not both)")
        raise typer.Exit(2)
    rt, p = terminal.acting_as(as_user)
    if endpoint is not None:
        done = guard(lambda: webhooks.replay_failed(rt, p, endpoint))
        terminal.out.print(f"replayed {done.replayed} message(s)", highlight=False)
        return
    assert message_id is not None
    msg = guard(lambda: webhooks.replay(rt, p, message_id))
    terminal.out.print(f"replayed {msg.id}", highlight=False)
