"""The house is layered one way: a test that walks every import of ``src/accord``.

``LAYERS`` is the README's layering line ("How the code is laid out"), lowest first. A
module may import its own unit (top-level module or package of ``accord``) and any unit
*earlier* in the list, never a later one: that holds for imports at the top of a file, for
imports inside functions, and for modules named by string (``importlib.import_module``, the
render guard's ``"module:function"`` targets), so a lazy import cannot hide a loop.

A second rule: a feature reads and writes only its own tables. No module imports another
feature's ``models``, except the few places that know every feature (the models
aggregate for migrations, the registry, the app and the CLI).
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "accord"

# Lowest first. Keep equal to the README's line (tests/test_readme.py checks it).
LAYERS: tuple[str, ...] = (
    "__version__", "errors", "validation", "dotted", "config", "logs", "db", "wiring",
    "storage", "runtime", "access", "web", "terminal", "delivery",
    "accounts", "audit", "documents", "envelopes", "signing", "drafting", "bulk",
    "webhooks", "contracts",
    "models", "migrations", "migrate", "registry", "app", "demo", "cli",
)
# Units that may import every feature's models (they know every feature by design).
KNOWS_EVERY_MODEL = {"models", "migrations", "registry", "app", "demo", "cli"}

_GUARD_TARGET = re.compile(r"^accord(\.\w+)+:\w+$")
_DYNAMIC = {"import_module", "__import__", "preload"}


@dataclass(frozen=True)
class Import:
    source: str   # importing module, dotted
    target: str   # imported module, dotted
    where: str    # file:line

    @property
    def source_unit(self) -> str:
        return unit_of(self.source)

    @property
    def target_unit(self) -> str:
        return unit_of(self.target)


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def imports_of(path: Path) -> list[Import]:
    module, is_pkg = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []

    def add(target: str, node: ast.AST) -> None:
        if target == "accord" or target.startswith("accord."):
            where = f"{path.relative_to(SRC.parent)}:{getattr(node, 'lineno', 0)}"
            found.append(Import(module, target, where))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                keep = len(base) - node.level + (1 if is_pkg else 0)
                target = ".".join(base[:keep] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "accord":  # from accord import x: x is the unit
                for alias in node.names:
                    add(f"accord.{alias.name}", node)
            else:
                add(target, node)
        elif isinstance(node, ast.Call):
            dynamic = _call_name(node.func) in _DYNAMIC
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    text = arg.value
                    if dynamic or _GUARD_TARGET.match(text):
                        add(text.split(":", 1)[0], node)
    return found


def all_imports() -> list[Import]:
    return [imp for path in sorted(SRC.rglob("*.py"))
            if "versions" not in path.parts for imp in imports_of(path)]


def layering_violations(imports: list[Import]) -> list[str]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    bad = []
    for imp in imports:
        src, dst = imp.source_unit, imp.target_unit
        if not src or src == dst:
            continue
        if src not in rank or dst not in rank:
            bad.append(f"{imp.where}: {imp.source} -> {imp.target} "
                       f"({src if src not in rank else dst} is not in LAYERS)")
        elif rank[dst] > rank[src]:
            bad.append(f"{imp.where}: {imp.source} imports {imp.target} "
                       f"({src} sits below {dst})")
    return bad


def model_violations(imports: list[Import]) -> list[str]:
    bad = []
    for imp in imports:
        src, dst = imp.source_unit, imp.target_unit
        parts = imp.target.split(".")
        if (len(parts) >= 3 and parts[2] == "models" and src != dst
                and src not in KNOWS_EVERY_MODEL):
            bad.append(f"{imp.where}: {imp.source} reads {dst}'s tables ({imp.target})")
    return bad


def test_every_unit_is_placed() -> None:
    units = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
             and p.name != "__init__.py"}
    assert units - set(LAYERS) == set(), "add the new unit to LAYERS and the README line"


def test_imports_run_one_way() -> None:
    bad = layering_violations(all_imports())
    assert bad == [], "imports against the layering:\n" + "\n".join(bad)


def test_no_feature_reads_another_features_tables() -> None:
    bad = model_violations(all_imports())
    assert bad == [], "imports of another feature's models:\n" + "\n".join(bad)


# The checker itself: each way round it must catch.

@pytest.fixture
def fake_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    root = tmp_path / "accord"

    def write(rel: str, text: str) -> Path:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    monkeypatch.setattr(sys.modules[__name__], "SRC", root)
    return write


def test_checker_sees_function_local_imports(fake_module) -> None:  # type: ignore[no-untyped-def]
    path = fake_module("audit/services.py",
                       "def f():\n    from accord.envelopes.models import Envelope\n")
    found = imports_of(path)
    assert [i.target for i in found] == ["accord.envelopes.models"]
    assert len(layering_violations(found)) == 1
    assert len(model_violations(found)) == 1


def test_checker_sees_relative_and_string_imports(fake_module) -> None:  # type: ignore[no-untyped-def]
    path = fake_module("bulk/tasks.py",
                       "import importlib\nfrom ..webhooks import services\n"
                       "w = importlib.import_module('accord.webhooks.services')\n"
                       "run('accord.cli:main')\n")
    found = imports_of(path)
    assert sorted(i.target for i in found) == [
        "accord.cli", "accord.webhooks", "accord.webhooks.services"]
    assert len(layering_violations(found)) == 3


def test_checker_allows_downward_and_own_imports(fake_module) -> None:  # type: ignore[no-untyped-def]
    path = fake_module("signing/services.py",
                       "from accord.envelopes import services\n"
                       "from accord.signing.models import SignerSession\n"
                       "from accord import errors\n")
    found = imports_of(path)
    assert layering_violations(found) == []
    assert model_violations(found) == []
