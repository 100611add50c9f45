"""`accord bulk-send TEMPLATE FILE.csv`: check (``--dry-run``) or send one envelope per CSV
row, then follow the batch with a progress bar until it finishes.

Locally it acts as a user of this instance (``--as EMAIL`` / ACCORD_AS) on its database
(the rows are sent by ``accord serve``'s worker or ``accord worker`` processes); with
``--url`` (ACCORD_API_URL) and an API key (ACCORD_API_KEY) it uses the REST API of a
running instance instead. Exit status: 0 done, 1 some rows invalid or failed, 2 refused.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from accord import terminal

Fetch = Callable[[], dict[str, Any]]


class Refused(Exception):
    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


def _print_problems(problems: list[dict[str, Any]], limit: int = 50) -> None:
    if not problems:
        return
    table = Table("row", "column", "code", "problem", title="Problems")
    for p in problems[:limit]:
        table.add_row(str(p.get("row") or ""), str(p.get("column") or ""),
                      str(p.get("code")), str(p.get("message")))
    terminal.out.print(table)
    if len(problems) > limit:
        terminal.out.print(f"… and {len(problems) - limit} more")


# -- the two ways in: this instance's database, or the REST API ---------------------------


class _Local:
    def __init__(self, email: str) -> None:
        from accord.errors import AccordError

        setup = terminal.setup()
        self.rt = setup.runtime()
        try:
            self.principal = setup.user(self.rt, email)
        except AccordError as exc:
            raise Refused(exc.code, exc.message) from exc

    def call(self, fn: Callable[[], Any]) -> dict[str, Any]:
        from dataclasses import asdict

        from accord.errors import AccordError

        try:
            result = fn()
        except AccordError as exc:
            raise Refused(exc.code, exc.message, exc.details) from exc
        return asdict(result)

    def dry_run(self, body: dict[str, Any], data: bytes) -> dict[str, Any]:
        from accord.bulk import services

        return self.call(lambda: services.dry_run(
            self.rt, self.principal, template_key=body["template_key"],
            version=body.get("version"), data=data, mapping=body["mapping"],
            allow_duplicates=body["allow_duplicates"]))

    def submit(self, body: dict[str, Any], data: bytes, key: str | None) -> dict[str, Any]:
        from accord.bulk import services

        return self.call(lambda: services.submit(
            self.rt, self.principal, template_key=body["template_key"],
            version=body.get("version"), data=data, file_name=body["file_name"],
            mapping=body["mapping"], subject=body.get("subject"), message=body["message"],
            idempotency_key=key, allow_duplicates=body["allow_duplicates"]).batch)

    def get(self, batch_id: str) -> dict[str, Any]:
        from accord.bulk import services

        return self.call(lambda: services.get(self.rt, self.principal, batch_id))


class _Remote:
    def __init__(self, url: str, api_key: str) -> None:
        import httpx

        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=120,
                                   headers={"Authorization": f"Bearer {api_key}"})

    def _json(self, response: Any) -> dict[str, Any]:
        body: dict[str, Any] = response.json()
        if response.status_code >= 400:
            e = body.get("error") or {}
            raise Refused(str(e.get("code")), str(e.get("message")), e.get("details"))
        return body

    def dry_run(self, body: dict[str, Any], data: bytes) -> dict[str, Any]:
        body = {**body, "csv_base64": base64.b64encode(data).decode()}
        body = {k: v for k, v in body.items() if k not in ("subject", "message")}
        return self._json(self.client.post("/api/v1/bulk-batches/dry-run", json=body))

    def submit(self, body: dict[str, Any], data: bytes, key: str | None) -> dict[str, Any]:
        body = {**body, "csv_base64": base64.b64encode(data).decode()}
        headers = {"Idempotency-Key": key} if key else {}
        return self._json(self.client.post("/api/v1/bulk-batches", json=body,
                                           headers=headers))

    def get(self, batch_id: str) -> dict[str, Any]:
        return self._json(self.client.get(f"/api/v1/bulk-batches/{batch_id}"))


def follow(fetch: Fetch, *, interval: float = 0.5, timeout: float = 3600) -> dict[str, Any]:
    """Poll the batch and draw a progress bar until it is finished (or ``timeout``)."""
    batch = fetch()
    valid = batch["total_rows"] - batch["invalid_rows"]
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn())
    deadline = time.monotonic() + timeout
    with Progress(*columns, console=terminal.out, transient=False) as bar:
        task = bar.add_task("sending", total=valid, failed=0)
        while True:
            bar.update(task, completed=batch["done_rows"] + batch["failed_rows"],
                       failed=batch["failed_rows"])
            if batch["status"] == "finished" or time.monotonic() > deadline:
                break
            time.sleep(interval)
            batch = fetch()
    return batch


def bulk_send(
    template: Annotated[str, typer.Argument(help="The template's key.")],
    file: Annotated[Path, typer.Argument(help="The CSV file (UTF-8, header row).")],
    as_user: Annotated[str | None, typer.Option("--as", envvar="ACCORD_AS", help="Act as "
                       "this user (email) of this instance.")] = None,
    url: Annotated[str | None, typer.Option(envvar="ACCORD_API_URL", help="Use the REST "
                   "API of this Accord instead of the local database.")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="ACCORD_API_KEY",
                       help="API key for --url.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only check the rows; "
                       "send nothing.")] = False,
    version: Annotated[int | None, typer.Option(min=1, help="Template version (default: "
                       "the latest published).")] = None,
    mapping: Annotated[str | None, typer.Option(help='Column mapping as JSON: '
                       '{"CSV header": "customer.legal_name"}.')] = None,
    subject: Annotated[str | None, typer.Option(help="Envelope subject (default: the "
                       "template's name).")] = None,
    message: Annotated[str, typer.Option(help="Message to recipients.")] = "",
    idempotency_key: Annotated[str | None, typer.Option(help="Identifies the batch: the "
                               "same key again never sends twice (default: the file's "
                               "hash).")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the batch until it finishes.")] = True,
    allow_duplicates: Annotated[bool, typer.Option(
        "--allow-duplicates", help="Send rows that repeat an earlier row (same recipients "
        "and values); by default they are invalid (duplicate_row).")] = False,
) -> None:
    """Send one envelope per CSV row (or only check the file with --dry-run)."""
    try:
        data = file.read_bytes()
        columns = json.loads(mapping) if mapping else {}
    except OSError as exc:
        terminal.err.print(f"cannot read {file}: {exc.strerror}")
        raise typer.Exit(2) from exc
    except ValueError as exc:
        terminal.err.print("--mapping is not JSON")
        raise typer.Exit(2) from exc
    body: dict[str, Any] = {"template_key": template, "version": version,
                            "file_name": file.name, "mapping": columns, "subject": subject,
                            "message": message, "allow_duplicates": allow_duplicates}
    try:
        if url:
            if not api_key:
                terminal.err.print("--url needs an API key (--api-key or ACCORD_API_KEY)")
                raise typer.Exit(2)
            way: _Local | _Remote = _Remote(url, api_key)
        elif as_user:
            way = _Local(as_user)
        else:
            terminal.err.print("say who sends: --as EMAIL (this instance) or --url and --api-key")
            raise typer.Exit(2)
        if dry_run:
            report = way.dry_run(body, data)
            terminal.out.print(f"{report['template']}: {report['total_rows']} rows, "
                               f"{report['valid_rows']} can be sent, {report['invalid_rows']} have "
                               "problems. Nothing was sent.")
            _print_problems(report["problems"])
            raise typer.Exit(1 if report["invalid_rows"] else 0)
        batch = way.submit(body, data, idempotency_key)
        terminal.out.print(f"batch {batch['id']}: {batch['total_rows'] - batch['invalid_rows']} "
                           f"envelopes queued, {batch['invalid_rows']} invalid rows")
        if wait:
            batch = follow(lambda: way.get(batch["id"]))
        terminal.out.print(f"{batch['done_rows']} sent, {batch['failed_rows']} failed, "
                           f"{batch['invalid_rows']} invalid ({batch['status']}); results: "
                           f"/api/v1/bulk-batches/{batch['id']}/results.csv")
    except Refused as exc:
        terminal.err.print(f"error ({exc.code}): {exc.message}", highlight=False)
        if isinstance(exc.details, list):
            _print_problems([d for d in exc.details if isinstance(d, dict)])
        raise typer.Exit(2) from exc
    bad = batch["invalid_rows"] + batch["failed_rows"]
    raise typer.Exit(1 if bad or batch["status"] != "finished" else 0)
