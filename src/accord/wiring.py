"""What a feature declares to the running instance: its background-task handlers, its
audit listeners, its periodic sweeps, the hooks it offers and its subscriptions to other
features' hooks.

Each feature that has any keeps them in its own ``wiring.py`` as one ``Wiring`` value;
``accord.registry`` collects every feature's explicitly and installs them, the same way for
``accord serve``, ``accord worker`` and every other command. Importing a feature registers
nothing. This module is infrastructure: it knows no feature, only the shapes.

A **hook** is how a lower feature lets higher ones react without importing them (bulk
send's finished batch becomes a webhook event): the lower feature owns a ``Hook``, lists
it in its wiring and calls ``hook.fire(...)``; a higher feature lists a ``Subscription`` to
the hook's name in its wiring; ``accord.registry.install`` connects them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Task:
    """The handler of one outbox kind (see ``accord.delivery.handlers.register`` for what
    each hook means)."""

    kind: str
    handler: Callable[..., Any]
    delivered: Callable[..., Any] | None = None
    failed: Callable[..., Any] | None = None
    addressee: Callable[..., Any] | None = None
    retry_schedule: Sequence[float] | None = None


@dataclass(frozen=True)
class Sweep:
    """Periodic work: ``run(rt)`` every ``every_s`` seconds in ``accord serve`` (with its
    in-process worker) and in ``accord worker``; ``accord worker --once`` runs it once.
    It must be safe to run in several processes at once."""

    name: str
    run: Callable[..., Any]
    every_s: float = 30.0


class Hook:
    """An event one feature offers. ``fire`` calls every subscriber in order, with the
    arguments given (by convention the caller's session first: a subscriber only adds
    rows to it; if it raises, the caller's change fails with it)."""

    def __init__(self, name: str, doc: str = "") -> None:
        self.name = name
        self.doc = doc
        self._subscribers: list[Callable[..., Any]] = []

    def subscribe(self, handler: Callable[..., Any]) -> None:
        """Add a subscriber (once; ``accord.registry.install`` calls this)."""
        if handler not in self._subscribers:
            self._subscribers.append(handler)

    @property
    def subscribers(self) -> tuple[Callable[..., Any], ...]:
        return tuple(self._subscribers)

    def fire(self, *args: Any, **kwargs: Any) -> None:
        for handler in self.subscribers:
            handler(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, {len(self._subscribers)} subscribers)"


@dataclass(frozen=True)
class Subscription:
    """``handler`` is called whenever the hook named ``hook`` fires."""

    hook: str
    handler: Callable[..., Any]


@dataclass(frozen=True)
class Wiring:
    feature: str
    tasks: tuple[Task, ...] = ()
    audit_listeners: tuple[Callable[..., Any], ...] = ()
    sweeps: tuple[Sweep, ...] = field(default=())
    hooks: tuple[Hook, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
