"""The README's bulk send example works on the demo organisation as `accord serve` seeds
it: the template and the user it names exist, and its CSV passes the dry run."""

from __future__ import annotations

import re
from pathlib import Path

from accord.accounts.services import DEMO_EMAIL, principal_for_email, seed_demo, user_id_by_email
from accord.bulk import services
from accord.drafting.services import seed_examples
from accord.runtime import Runtime

README = (Path(__file__).parents[2] / "README.md").read_text()
SECTION = README.split("\n## Bulk send\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_example_runs_on_the_demo(rt: Runtime) -> None:
    commands = re.findall(r"accord bulk-send (\S+) people\.csv (?:--as (\S+))?", SECTION)
    assert len(commands) == 3
    keys = {key for key, _ in commands}
    users = {user for _, user in commands if user}
    assert users == {DEMO_EMAIL}
    [key] = keys
    lines = re.findall(r"^    (customer\.legal_name,.*\n(?:    .*\n)*)", SECTION, re.M)
    assert lines, "no example CSV in the Bulk send section"
    data = "".join(line.removeprefix("    ") for line in lines[0].splitlines(True)).encode()

    creds = seed_demo(rt)  # what `accord serve` does on a fresh database
    assert creds is not None
    seed_examples(rt, creds.org_id, publisher_user_id=user_id_by_email(rt, creds.email))
    report = services.dry_run(rt, principal_for_email(rt, DEMO_EMAIL), template_key=key,
                              data=data)
    assert report.problems == [] and report.valid_rows == report.total_rows >= 1
