"""The one list of every feature's wiring, and installing it into a process.

``accord serve`` (``app.create_app``), ``accord worker`` and every other command build the
same runtime: ``install()`` registers each feature's task handlers with the outbox, its
audit listeners with the audit log, its organisation settings with accounts, its handlers
of lower features' hooks, and its subscriptions to the events other features offer;
``run_sweeps`` runs every feature's periodic sweeps.
A new feature adds its ``wiring.WIRING`` to ``FEATURES`` here, and nowhere else. Like
``app`` and ``cli``, this module knows every feature; no feature imports it.
"""

from __future__ import annotations

import logging
import threading
import time

from accord.accounts.services import admin as accounts_admin
from accord.accounts.wiring import WIRING as ACCOUNTS
from accord.audit import services as audit
from accord.bulk.wiring import WIRING as BULK
from accord.contracts.wiring import WIRING as CONTRACTS
from accord.delivery import handlers
from accord.delivery.wiring import WIRING as DELIVERY
from accord.envelopes.wiring import WIRING as ENVELOPES
from accord.runtime import Runtime
from accord.signing.wiring import WIRING as SIGNING
from accord.webhooks.wiring import WIRING as WEBHOOKS
from accord.wiring import Sweep, Wiring

log = logging.getLogger("accord.registry")

FEATURES: tuple[Wiring, ...] = (DELIVERY, ACCOUNTS, ENVELOPES, SIGNING, BULK, WEBHOOKS,
                                CONTRACTS)

_lock = threading.Lock()


def install() -> None:
    """Register every feature's tasks, audit listeners, organisation settings and hook
    handlers, and connect every subscription to the event it names, in this process
    (idempotent)."""
    with _lock:
        for feature in FEATURES:
            for task in feature.tasks:
                handlers.register(task.kind, task.handler, delivered=task.delivered,
                                  failed=task.failed, addressee=task.addressee,
                                  retry_schedule=task.retry_schedule)
            for listener in feature.audit_listeners:
                if listener not in audit.listeners:
                    audit.listeners.append(listener)
            for setting in feature.org_settings:
                accounts_admin.declare_setting(setting)
            for plug in feature.plugs:
                plug.hook.install(plug.handler)
        events = {event.name: event for feature in FEATURES for event in feature.events}
        for feature in FEATURES:
            for sub in feature.subscriptions:
                if sub.event not in events:
                    raise LookupError(f"{feature.feature} subscribes to {sub.event!r}, "
                                      "which no feature's wiring offers")
                events[sub.event].subscribe(sub.handler)


def task_kinds() -> set[str]:
    """Every outbox kind some feature declares a handler for."""
    return {task.kind for feature in FEATURES for task in feature.tasks}


def sweeps() -> tuple[Sweep, ...]:
    return tuple(s for feature in FEATURES for s in feature.sweeps)


def sweep_once(rt: Runtime) -> dict[str, object]:
    """Run every sweep once (``accord worker --once``); each one's result by name."""
    return {s.name: s.run(rt) for s in sweeps()}


def run_sweeps(rt: Runtime, stop: threading.Event, every_s: float | None = None) -> None:
    """Run each sweep every ``every_s`` seconds (its own, unless given) until ``stop`` is
    set (``accord serve``'s background thread, ``accord worker``). A failed pass is logged
    and the loop goes on."""
    period = {s.name: every_s if every_s is not None else s.every_s for s in sweeps()}
    due = {name: time.monotonic() + p for name, p in period.items()}
    while not stop.is_set():
        now = time.monotonic()
        for s in sweeps():
            if now >= due[s.name]:
                due[s.name] = now + period[s.name]
                try:
                    s.run(rt)
                except Exception:  # a sweep must outlive a bad pass
                    log.exception("sweep %s failed", s.name)
        if not due:
            stop.wait()
            return
        stop.wait(max(0.0, min(due.values()) - time.monotonic()))
