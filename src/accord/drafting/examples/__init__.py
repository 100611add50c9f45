"""Shipped example templates and the seed clause library (pure: reads package files).

    clauses/<key>.md              first line "# Title", then the body (Markdown + Jinja)
    <template-key>/template.json  key, name, kind, variables, roles, prefill, sample_data,
                                  rules (routing rules, optional), contract (the
                                  contract section, optional: drafting.contract)
    <template-key>/source.md|source.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

__all__ = ["ClauseSeed", "Examples", "TemplateSeed", "load_examples", "read_template_folder"]

_SOURCES = {"markdown": "source.md", "html": "source.html"}


@dataclass(frozen=True)
class ClauseSeed:
    key: str
    title: str
    body: str       # without the title line


@dataclass(frozen=True)
class TemplateSeed:
    key: str
    name: str
    kind: str       # markdown or html
    source: str
    variables: list[dict[str, Any]]
    roles: list[dict[str, Any]]
    prefill: dict[str, str]
    sample_data: dict[str, Any]
    rules: list[dict[str, Any]] = field(default_factory=list)  # routing rules
    contract: dict[str, Any] | None = None  # the contract section (drafting.contract)


@dataclass(frozen=True)
class Examples:
    clauses: list[ClauseSeed]
    templates: list[TemplateSeed]


def _clause(path: Traversable) -> ClauseSeed:
    text = path.read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    if not first.startswith("# "):
        raise ValueError(f"{path.name}: the first line must be '# Title'")
    return ClauseSeed(key=path.name.removesuffix(".md"), title=first[2:].strip(),
                      body=rest.lstrip("\n"))


def _template(folder: Traversable, *, named_by_key: bool = True) -> TemplateSeed:
    meta = json.loads(folder.joinpath("template.json").read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("template.json must hold a JSON object")
    kind = meta["kind"]
    if (named_by_key and meta["key"] != folder.name) or kind not in _SOURCES:
        raise ValueError(f"{folder.name}/template.json: key or kind does not match")
    source = folder.joinpath(_SOURCES[kind]).read_text(encoding="utf-8")
    return TemplateSeed(key=meta["key"], name=meta["name"], kind=kind, source=source,
                        variables=meta["variables"], roles=meta["roles"],
                        prefill=meta.get("prefill", {}),
                        sample_data=meta.get("sample_data", {}),
                        rules=meta.get("rules", []), contract=meta.get("contract"))


def read_template_folder(folder: Traversable) -> TemplateSeed:
    """A template authored as files (the layout above), e.g. for ``accord templates
    upload``. Raises OSError, ValueError (bad JSON, key/kind) or KeyError (missing item)."""
    return _template(folder, named_by_key=False)


def load_examples() -> Examples:
    """Every shipped clause and template, sorted by key; fresh objects on each call."""
    root = resources.files(__name__)
    clauses = sorted((_clause(p) for p in root.joinpath("clauses").iterdir()
                      if p.name.endswith(".md")), key=lambda c: c.key)
    templates = sorted((_template(p) for p in root.iterdir()
                        if p.is_dir() and p.joinpath("template.json").is_file()),
                       key=lambda t: t.key)
    return Examples(clauses=clauses, templates=templates)
