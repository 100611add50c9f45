"""`accord keys ...`: the key store's master-key versions and their rotation.

These commands need only the settings and the master key, not the database: the key
store is opened the way the runtime opens it (:func:`accord.storage.keys.open_key_store`).
``accord.terminal`` sits above storage in the layering, so the few things shared with
every feature's commands (consoles, an error as exit status 2) are done here alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

if TYPE_CHECKING:
    from accord.storage.keys import KeyStore

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

app = typer.Typer(help="The key store: shred keys of documents and the master keys that "
                  "wrap them (README: Keys and crypto-shredding).", no_args_is_help=True,
                  add_completion=False)


def key_store() -> KeyStore:
    """The configured key store (tests patch this)."""
    from accord.config import get_settings
    from accord.storage.blobs import load_master_key
    from accord.storage.keys import open_key_store

    settings = get_settings()
    return open_key_store(settings, load_master_key(settings.master_key, settings.data_dir))


def _guard(action: Callable[[], T]) -> T:
    from accord.storage.keys import KeyStoreError

    try:
        return action()
    except (KeyStoreError, ValueError) as exc:
        err.print(f"error (key_store): {exc}", highlight=False)
        raise typer.Exit(2) from exc


@app.command("status")
def status() -> None:
    """The master-key versions of the key store and how many shred keys each wraps."""
    store = _guard(key_store)
    versions = _guard(store.versions)
    table = Table()
    for name in ("version", "created", "entries", "state"):
        table.add_column(name)
    for v in versions:
        table.add_row(f"v{v.version}", v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                      str(v.entries), "active" if v.active else "retiring")
    out.print(table)
    if len(versions) > 1:
        out.print("a rotation is unfinished: run `accord keys rotate` to finish it",
                  highlight=False)


@app.command("rotate")
def rotate_cmd(batch: Annotated[int, typer.Option(
        min=1, max=100_000, help="Entries re-wrapped per committed step.")] = 500) -> None:
    """Re-wrap every shred key under a new master-key version, then retire the old one.
    Blobs are not touched. Interrupted, the next run finishes the same rotation."""
    from accord.storage.keys import rotate

    store = _guard(key_store)
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), console=out) as bar:
        task = bar.add_task("re-wrapping", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = _guard(lambda: rotate(store, batch=batch, progress=progress))
    retired = ", ".join(f"v{v}" for v in result.retired) or "none"
    out.print(f"{'resumed: ' if result.resumed else ''}re-wrapped {result.rewrapped} "
              f"entries under v{result.target}; retired {retired}", highlight=False)
