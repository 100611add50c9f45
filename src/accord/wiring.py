"""What a feature declares to the running instance: its background-task handlers, its
audit listeners, its periodic sweeps and the organisation settings it owns.

Each feature that has any keeps them in its own ``wiring.py`` as one ``Wiring`` value;
``accord.registry`` collects every feature's explicitly and installs them, the same way for
``accord serve``, ``accord worker`` and every other command. Importing a feature registers
nothing. This module is infrastructure: it knows no feature, only the shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    org_settings: tuple[OrgSetting, ...] = ()
