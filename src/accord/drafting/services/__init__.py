"""Use cases of the drafting feature: the clause library, templates and their versions,
review and publication, previews, envelopes from templates, seeding the shipped examples.

Each function owns its transaction, checks the caller's role (``domain.TEMPLATE_PERMISSIONS``)
and scopes every query to the caller's organisation: another organisation's keys and ids
answer NotFound. The implementation is split by responsibility:

* ``versions``   the draft -> review -> published -> retired lifecycle both share, generic
  over the version model: loading, review steps, retiring, edits in place, reading, diffs
* ``clauses``    what is a clause's own: key, title, body
* ``templates``  what is a template's own: content, publishing (pins, fingerprint), the
  approval setting
* ``use``        preview, create_from_template; ``bulk`` the same for a batch
* ``seed``       seed_examples
* ``checks``     upload validation; ``render`` clause pins and rendering;
  ``common``     access, errors, views, the immutability guard
"""

from __future__ import annotations

from accord.drafting.services.clauses import (
    create_clause,
    diff_clause,
    edit_clause,
    get_clause,
    list_clauses,
    publish_clause,
    reject_clause,
    retire_clause,
    submit_clause,
)
from accord.drafting.services.common import (
    ClauseSummary,
    ClauseVersionView,
    ClauseView,
    Diff,
    TemplateSummary,
    TemplateVersionSummary,
    TemplateVersionView,
    TemplateView,
)
from accord.drafting.services.seed import seed_examples
from accord.drafting.services.templates import (
    DraftingSettings,
    create_template,
    diff_template,
    edit_template,
    get_settings,
    get_template,
    get_template_version,
    list_templates,
    publish_template,
    reject_template,
    retire_template,
    set_settings,
    submit_template,
)
from accord.drafting.services.use import (
    ContractValues,
    contract_values_of,
    create_from_template,
    preview,
)

__all__ = [
    "ClauseSummary",
    "ClauseVersionView",
    "ClauseView",
    "ContractValues",
    "Diff",
    "DraftingSettings",
    "TemplateSummary",
    "TemplateVersionSummary",
    "TemplateVersionView",
    "TemplateView",
    "contract_values_of",
    "create_clause",
    "create_from_template",
    "create_template",
    "diff_clause",
    "diff_template",
    "edit_clause",
    "edit_template",
    "get_clause",
    "get_settings",
    "get_template",
    "get_template_version",
    "list_clauses",
    "list_templates",
    "preview",
    "publish_clause",
    "publish_template",
    "reject_clause",
    "reject_template",
    "retire_clause",
    "retire_template",
    "seed_examples",
    "set_settings",
    "submit_clause",
    "submit_template",
]
