"""The README stays true: the two set-up commands, and the permission matrix as enforced."""

from __future__ import annotations

from pathlib import Path

from accord.accounts.domain import matrix_markdown

README = (Path(__file__).parent.parent / "README.md").read_text()
CI = (Path(__file__).parent.parent / ".ci" / "run").read_text()


def test_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join(README.splitlines()[:30])
    assert "pip install -e . && accord serve" in first_screen
    assert "pip install -e '.[test]' && pytest -n 2" in first_screen
    assert "pip install -q -e '.[test]' && pytest -n 2" in CI  # .ci/run runs the same


def test_permission_matrix_matches_the_code() -> None:
    assert matrix_markdown() in README
