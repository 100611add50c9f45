"""The README stays true: the two set-up commands, the lock they install from, and the
permission matrix and the layering line as enforced."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from accord.access import matrix_markdown

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()
START = ("pip install --require-hashes -r requirements.txt && pip install --no-deps -e . "
         "&& accord serve")
TEST = ("pip install --require-hashes -r requirements-test.txt && pip install --no-deps -e . "
        "&& pytest -n 2")


def test_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join(README.splitlines()[:30])
    assert START in first_screen
    assert TEST in first_screen
    # .ci/run runs the same line (quietly) in a new virtual environment
    assert TEST.replace("pip install ", "pip install -q ") in CI
    assert "python3 -m venv" in CI


def _locked(name: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    text = (ROOT / name).read_text()
    for block in re.split(r"\n(?=\S)", text):
        first = block.split("\n", 1)[0]
        if first.startswith("#") or not first.strip():
            continue
        m = re.match(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;\\]+)", first)
        assert m, f"{name}: not an exact pin: {first!r}"
        assert "--hash=sha256:" in block, f"{name}: {first!r} has no hash"
        pins[canonicalize_name(m.group(1))] = m.group(3)
    return pins


@pytest.mark.parametrize(("lock", "extra"), [("requirements.txt", None),
                                             ("requirements-test.txt", "test")])
def test_lock_pins_every_declared_dependency(lock: str, extra: str | None) -> None:
    """Refreshing the lock goes with changing pyproject.toml (README: "Dependencies")."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    if extra:
        declared += project["optional-dependencies"][extra]
    pins = _locked(lock)
    for spec in declared:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared in pyproject.toml but not locked in {lock}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {req.name}=={pins[name]}, outside {req.specifier}")


def test_permission_matrix_matches_the_code() -> None:
    assert matrix_markdown() in README


def test_layering_line_matches_the_import_check() -> None:
    """The README's one line of layering is the order tests/test_layering.py enforces."""
    from tests.test_layering import LAYERS

    line = next(ln.strip() for ln in README.splitlines()
                if ln.startswith("    errors, ") and " -> " in ln)
    said = [unit.strip() for group in line.split(" -> ") for unit in group.split(",")]
    assert said == [u for u in LAYERS if u != "__version__"]
