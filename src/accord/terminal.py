"""What every feature's `accord` sub-commands share: the consoles they print to, the
``--as EMAIL`` option, turning an AccordError into a message and exit status 2, and the
runtime and acting principal of a command.

The runtime (built with every feature's wiring installed) and who ``--as`` or
``--api-key`` names are not built here: the top-level `accord` command (``accord.cli``)
installs a ``Terminal`` before any of its commands runs, so a feature's command reaches
them without importing the command that knows every feature. Tests that run a feature's
Typer app on its own install one for the test runtime.

Print through ``terminal.out`` / ``terminal.err`` (looked up at call time), so that one
patch of ``accord.terminal.out`` (a wide Console in tests) reaches every command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from accord.access import Principal
    from accord.runtime import Runtime

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

AsUser = Annotated[str, typer.Option("--as", envvar="ACCORD_AS", help="Act as this user "
                                     "(email); their role and organisation apply.")]


@dataclass(frozen=True)
class Terminal:
    """How a command builds the runtime and resolves who acts."""

    runtime: Callable[[], Runtime]
    user: Callable[[Runtime, str], Principal]  # --as EMAIL: an active user
    api_key: Callable[[Runtime, str], Principal]  # --api-key KEY: its owner, its scopes


_installed: list[Terminal] = []


def install(terminal: Terminal | None) -> Terminal | None:
    """Hand this process's commands ``terminal`` (None: none); returns the previous one."""
    previous = _installed[-1] if _installed else None
    _installed[:] = [terminal] if terminal is not None else []
    return previous


def setup() -> Terminal:
    """The installed ``Terminal``."""
    if not _installed:
        raise RuntimeError("run this through the `accord` command (accord.cli), which "
                           "installs a Terminal")
    return _installed[-1]


def runtime() -> Runtime:
    return setup().runtime()


def guard(action: Callable[[], T]) -> T:
    """Run ``action``; an AccordError becomes a clear message and exit status 2."""
    from accord.errors import AccordError

    try:
        return action()
    except AccordError as exc:
        err.print(f"error ({exc.code}): {exc.message}", highlight=False)
        if isinstance(exc.details, list):
            for d in exc.details:
                where = d.get("field") or d.get("variable") if isinstance(d, dict) else None
                msg = d.get("message") if isinstance(d, dict) else d
                err.print(f"  - {where + ': ' if where else ''}{msg}", highlight=False)
        raise typer.Exit(2) from exc


def acting_as(email: str) -> tuple[Runtime, Principal]:
    """The runtime and the principal of the active user ``email`` (``--as``)."""
    terminal = setup()
    rt = terminal.runtime()
    return rt, guard(lambda: terminal.user(rt, email))


def acting_with_key(key: str) -> tuple[Runtime, Principal]:
    """The runtime and the principal of an API key's owner (``--api-key``)."""
    terminal = setup()
    rt = terminal.runtime()
    return rt, guard(lambda: terminal.api_key(rt, key.strip()))
