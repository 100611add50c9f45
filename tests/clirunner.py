"""Running one feature's Typer app on its own, the way the `accord` command runs it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from accord import terminal
from accord.accounts.services import authenticate_api_key, principal_for_email
from accord.runtime import Runtime


def terminal_for(rt: Runtime) -> terminal.Terminal:
    """What ``accord.cli`` installs for its commands, on the test runtime."""
    return terminal.Terminal(runtime=lambda: rt, user=principal_for_email,
                             api_key=authenticate_api_key)


@contextmanager
def installed(rt: Runtime) -> Iterator[terminal.Terminal]:
    """Feature commands run against ``rt`` inside the block."""
    mine = terminal_for(rt)
    previous = terminal.install(mine)
    try:
        yield mine
    finally:
        terminal.install(previous)
