"""What envelopes asks of the signer's ceremony above it goes through hooks that signing's
wiring handles: importing installs none, ``registry.install()`` installs them, and a
process that did not install them fails loudly instead of silently skipping the step."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from accord import registry
from accord.envelopes import services
from accord.envelopes.hooks import CONFIGURE_AUTH, END_SESSIONS
from accord.runtime import Runtime
from accord.signing.factors import configure
from accord.signing.links import end_sessions
from accord.wiring import Hook, HookNotInstalled
from tests.factories import audit_tags, member, pdf, sent_envelope, signature_fields


@pytest.fixture
def uninstall() -> Iterator[Callable[[], None]]:
    """Leave the ceremony's hooks as in a process that never called
    ``registry.install()``; installed again afterwards."""
    def _uninstall() -> None:
        END_SESSIONS.uninstall()
        CONFIGURE_AUTH.uninstall()
    try:
        yield _uninstall
    finally:
        registry.install()


def test_a_hook_no_one_installed_raises() -> None:
    hook: Hook[[int], int] = Hook("test.double")
    with pytest.raises(HookNotInstalled, match=r"test\.double"):
        hook(2)
    hook.install(lambda n: 2 * n)
    assert hook(2) == 4


def test_install_plugs_signing_into_envelopes_hooks() -> None:
    registry.install()
    assert CONFIGURE_AUTH._handler is configure
    assert END_SESSIONS._handler is end_sessions


def test_importing_installs_no_hook() -> None:
    code = ("import importlib, pkgutil, accord\n"
            "for m in pkgutil.walk_packages(accord.__path__, 'accord.'):\n"
            "    if '.migrations' in m.name or m.name in ('accord.registry', 'accord.app',"
            " 'accord.cli', 'accord.demo'): continue\n"
            "    if m.name.endswith('render_guard'): continue\n"
            "    importlib.import_module(m.name)\n"
            "from accord.envelopes.hooks import CONFIGURE_AUTH, END_SESSIONS\n"
            "print(CONFIGURE_AUTH.installed, END_SESSIONS.installed)\n"
            "from accord import registry\nregistry.install()\n"
            "print(CONFIGURE_AUTH.installed, END_SESSIONS.installed)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    assert out == ["False False", "True True"], out


def test_correcting_without_the_hooks_fails_loudly(
        rt: Runtime, uninstall: Callable[[], None]) -> None:
    """The correction would leave the old signer sessions alive: it is refused, and
    nothing of it is kept."""
    m = member(rt)
    env = sent_envelope(rt, m)
    uninstall()
    ann = env.recipients[0].id
    with pytest.raises(HookNotInstalled, match="end_sessions"):
        services.correct(rt, m.principal, env.id, ann, email="ann.lee@customer.example")
    assert services.get(rt, m.principal, env.id).recipients[0].email == "ann@customer.example"
    assert "recipient:corrected" not in audit_tags(rt, env.id)


def test_creating_without_the_hooks_fails_loudly(
        rt: Runtime, uninstall: Callable[[], None]) -> None:
    m = member(rt)
    uninstall()
    with pytest.raises(HookNotInstalled, match="configure_auth"):
        services.create(rt, m.principal, subject="S",
                        documents=[services.DocumentInput("a.pdf", pdf())],
                        recipients=(recipients := [
                            services.RecipientInput("Ann", "ann@customer.example")]),
                        fields=signature_fields(recipients))
    assert services.list_envelopes(rt, m.principal).total == 0
