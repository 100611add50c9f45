"""Wiring is declared, not a side effect of importing: every outbox kind that any code can
enqueue has a handler once ``registry.install()`` ran (as every command does), and a
separately started ``accord worker`` knows them all."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accord import registry
from accord.config import Settings
from accord.delivery import handlers
from accord.migrate import upgrade
from accord.runtime import build_runtime

SRC = Path(__file__).parent.parent / "src" / "accord"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class Modules:
    """The package's modules parsed once, with what each binds at module level."""

    def __init__(self) -> None:
        self.trees = {_module_name(p): ast.parse(p.read_text()) for p in SRC.rglob("*.py")
                      if "migrations" not in p.parts}
        self.assigned: dict[str, dict[str, ast.expr]] = {}
        self.imported: dict[str, dict[str, tuple[str, str]]] = {}
        for name, tree in self.trees.items():
            assigned, imported = {}, {}
            for node in tree.body:
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            assigned[target.id] = node.value
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                        and node.value is not None:
                    assigned[node.target.id] = node.value
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    for alias in node.names:
                        imported[alias.asname or alias.name] = (node.module, alias.name)
            self.assigned[name], self.imported[name] = assigned, imported

    def strings(self, module: str, expr: ast.expr, local: dict[str, ast.expr],
                depth: int = 0) -> set[str]:
        """Every string ``expr`` can be, following constants through modules; raises
        AssertionError where it cannot tell (use a module-level constant for a kind)."""
        assert depth < 20, f"{module}: kind expression too deep"
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        if isinstance(expr, ast.Dict):
            return set().union(*(self.strings(module, v, {}, depth + 1) for v in expr.values))
        if isinstance(expr, ast.IfExp):
            return (self.strings(module, expr.body, local, depth + 1)
                    | self.strings(module, expr.orelse, local, depth + 1))
        if isinstance(expr, ast.Subscript):  # KIND[channel]: any value of the mapping
            return self.strings(module, expr.value, local, depth + 1)
        if isinstance(expr, ast.Name):
            if expr.id in local:
                return self.strings(module, local[expr.id], {}, depth + 1)
            if expr.id in self.assigned[module]:
                return self.strings(module, self.assigned[module][expr.id], {}, depth + 1)
            if expr.id in self.imported[module]:
                source, name = self.imported[module][expr.id]
                assert source in self.trees, f"{module}: {expr.id} comes from {source}"
                return self.strings(source, ast.Name(id=name), {}, depth + 1)
        raise AssertionError(f"{module}:{getattr(expr, 'lineno', '?')}: cannot tell which "
                             f"outbox kind {ast.unparse(expr)!r} is")

    def enqueued_kinds(self) -> dict[str, set[str]]:
        """kind -> the modules that enqueue it (calls of ``enqueue(..., kind=...)``)."""
        found: dict[str, set[str]] = {}
        for module, tree in self.trees.items():
            for func in ast.walk(tree):
                if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                local = {t.id: n.value for n in ast.walk(func) if isinstance(n, ast.Assign)
                         for t in n.targets if isinstance(t, ast.Name)}
                for call in ast.walk(func):
                    if not (isinstance(call, ast.Call) and _called(call) == "enqueue"):
                        continue
                    kind = next((k.value for k in call.keywords if k.arg == "kind"), None)
                    if kind is None or (isinstance(kind, ast.Name) and kind.id == "kind"
                                        and module == "accord.delivery.services"):
                        continue  # enqueue's own helpers pass their parameter on
                    for value in self.strings(module, kind, local):
                        found.setdefault(value, set()).add(module)
        return found


def _called(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def test_every_enqueued_kind_has_a_handler() -> None:
    kinds = Modules().enqueued_kinds()
    # the scan finds what we know is there (it would be vacuous if it found nothing)
    assert {"email", "email:signing_request", "email:password_reset", "bulk:rows",
            "webhook", "email:signer_code", "sms:signer_code"} <= set(kinds)
    declared = registry.task_kinds()
    missing = {k: sorted(m) for k, m in kinds.items() if k not in declared}
    assert not missing, f"enqueued with no handler declared in any wiring.py: {missing}"
    registry.install()
    assert declared <= set(handlers.kinds())


def test_the_scan_catches_an_undeclared_kind() -> None:
    """The check above can fail: a kind enqueued but declared nowhere is reported."""
    mods = Modules()
    mods.trees["accord.fake"] = ast.parse(
        "ORPHAN = 'email:orphan'\n"
        "def f(s):\n    enqueue(s, kind=ORPHAN, payload={}, now=None)\n")
    mods.assigned["accord.fake"] = {"ORPHAN": ast.Constant("email:orphan")}
    mods.imported["accord.fake"] = {}
    assert mods.enqueued_kinds()["email:orphan"] == {"accord.fake"}
    assert "email:orphan" not in registry.task_kinds()


def test_importing_a_feature_registers_nothing() -> None:
    """In a fresh interpreter, importing every feature leaves the outbox registry empty
    until ``registry.install()`` runs."""
    code = ("import importlib, pkgutil, accord\n"
            "for m in pkgutil.walk_packages(accord.__path__, 'accord.'):\n"
            "    if '.migrations' in m.name or m.name in ('accord.registry', 'accord.app',"
            " 'accord.cli', 'accord.demo'): continue\n"
            "    if m.name.endswith('render_guard'): continue\n"
            "    importlib.import_module(m.name)\n"
            "from accord.delivery import handlers\n"
            "from accord.audit import services as audit\n"
            "print(handlers.kinds(), len(audit.listeners))\n"
            "from accord import registry\nregistry.install()\n"
            "print(len(handlers.kinds()) >= 9, len(audit.listeners))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    assert out == ["[] 0", "True 1"], out


def test_a_separate_worker_delivers_password_reset(tmp_path: Path) -> None:
    """``accord worker`` started on its own (web processes with ACCORD_RUN_WORKER=false)
    delivers the password-reset email a web process queued."""
    from accord.accounts.login import request_reset
    from accord.accounts.services import seed_demo
    from accord.delivery.models import OutboxMessage
    from accord.delivery.services import list_mailbox

    data = tmp_path / "data"
    settings = Settings(data_dir=data, seed_demo=True)
    rt = build_runtime(settings)
    upgrade(rt.db.engine)
    creds = seed_demo(rt)
    assert creds is not None
    request_reset(rt, creds.email)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env["ACCORD_DATA_DIR"] = str(data)  # no SMTP configured: the local mailbox
    done = subprocess.run([sys.executable, "-c", "from accord.cli import main; main()",
                           "worker", "--once"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    with rt.db.uow() as uow:
        rows = uow.session.query(OutboxMessage).filter_by(kind="email:password_reset").all()
        assert [(r.status, r.last_error) for r in rows] == [("delivered", None)]
    mails = [m for m in list_mailbox(rt, creds.org_id) if m.to_addr == creds.email]
    assert [m.subject for m in mails] == ["Reset your Accord password"]
    rt.db.dispose()


def test_events_connect_a_lower_feature_to_the_higher_ones_that_subscribe() -> None:
    """Bulk send offers its finished event; webhooks subscribe in their wiring; install()
    connects them (bulk imports nothing of webhooks)."""
    from accord.bulk.tasks import BATCH_FINISHED
    from accord.webhooks.services import on_bulk_finished

    registry.install()
    registry.install()  # idempotent
    assert BATCH_FINISHED.subscribers == (on_bulk_finished,)


def test_a_subscription_to_an_event_nobody_offers_fails_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.wiring import Subscription, Wiring

    stray = Wiring(feature="stray", subscriptions=(Subscription("no.such_event", print),))
    monkeypatch.setattr(registry, "FEATURES", (*registry.FEATURES, stray))
    with pytest.raises(LookupError, match=r"no\.such_event"):
        registry.install()
