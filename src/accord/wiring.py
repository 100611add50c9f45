"""What a feature declares to the running instance: its background-task handlers, its
audit listeners, its periodic sweeps, the organisation settings it owns, the hooks it
handles for lower features, and the events it offers or subscribes to.

Each feature that has any keeps them in its own ``wiring.py`` as one ``Wiring`` value;
``accord.registry`` collects every feature's explicitly and installs them, the same way for
``accord serve``, ``accord worker`` and every other command. Importing a feature registers
nothing. This module is infrastructure: it knows no feature, only the shapes.

A lower feature never imports a higher one. Two shapes let it reach up:

- a **hook** asks for something only a higher feature can do and waits for the answer
  (envelopes asks signing to configure a recipient's factors): the lower feature owns a
  ``Hook`` and calls it; exactly one higher feature handles it with a ``Plug`` in its
  wiring; calling a hook nobody installed raises ``HookNotInstalled``.
- an **event** tells whoever cares that something happened (bulk send's finished batch
  becomes a webhook event): the lower feature owns an ``Event``, lists it in its wiring
  and calls ``event.fire(...)``; any number of features list a ``Subscription`` to the
  event's name in theirs, or none.

``accord.registry.install`` connects both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


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


class HookNotInstalled(RuntimeError):
    """A hook was called in a process where ``registry.install()`` did not run."""


class Hook(Generic[P, R]):
    """A point where a lower feature needs a higher one to act (envelopes ending the
    signer sessions of a recipient it corrects, say) without importing it. The lower
    feature defines the hook and calls it; the higher one handles it through a ``Plug``
    in its ``wiring.py``, which ``registry.install()`` installs. Calling a hook that no
    one installed raises ``HookNotInstalled``: never a silently skipped step."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handler: Callable[P, R] | None = None

    @property
    def installed(self) -> bool:
        return self._handler is not None

    def install(self, handler: Callable[P, R]) -> None:
        self._handler = handler

    def uninstall(self) -> None:
        self._handler = None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._handler is None:
            raise HookNotInstalled(f"no handler installed for the hook {self.name!r}: "
                                   f"this process did not call accord.registry.install()")
        return self._handler(*args, **kwargs)


@dataclass(frozen=True)
class Plug(Generic[P, R]):
    """A feature's handler of a lower feature's hook."""

    hook: Hook[P, R]
    handler: Callable[P, R]


class Event:
    """Something that happened in one feature. ``fire`` calls every subscriber in order,
    with the arguments given (by convention the caller's session first: a subscriber only adds
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
        return f"Event({self.name!r}, {len(self._subscribers)} subscribers)"


@dataclass(frozen=True)
class Subscription:
    """``handler`` is called whenever the event named ``event`` fires."""

    event: str
    handler: Callable[..., Any]


@dataclass(frozen=True)
class OrgSetting:
    """An organisation setting a feature owns. ``accounts`` stores it in the organisation's
    settings and offers it on the settings API and page under ``key``; the feature says
    what it means: ``read(settings)`` is the value in force (its default when unset or
    not valid), ``check(value)`` the value to store (or raises InvalidInput)."""

    key: str
    read: Callable[[Mapping[str, Any]], Any]
    check: Callable[[Any], Any]


@dataclass(frozen=True)
class Wiring:
    feature: str
    tasks: tuple[Task, ...] = ()
    audit_listeners: tuple[Callable[..., Any], ...] = ()
    sweeps: tuple[Sweep, ...] = field(default=())
    plugs: tuple[Plug[..., Any], ...] = ()
    events: tuple[Event, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    org_settings: tuple[OrgSetting, ...] = ()
