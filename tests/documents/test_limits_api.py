"""At the API: a decompression bomb is refused with 422 document_too_complex before
anything is stored, and refusing it costs this process a bounded amount of memory."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from accord.app import create_app
from accord.envelopes.models import Envelope
from accord.runtime import Runtime, build_runtime
from tests.documents import bombs
from tests.documents.test_limits import BOUND, peak_growth
from tests.factories import csrf, envelope_body, member, signing_link

# The other bombs (nested filters, predictors, objects, xref streams) are refused by the same
# inspect_pdf call: tests/documents/test_limits.py.
API_BOMBS: dict[str, Callable[[], bytes]] = {
    "flate 1 GiB": bombs.flate_bomb,
    "50000x50000 image": bombs.image_bomb,
}


def _stored(rt: Runtime) -> tuple[int, int]:
    with rt.db.uow() as uow:
        envelopes = uow.session.scalar(select(func.count()).select_from(Envelope)) or 0
    blobs = rt.settings.data_dir / "blobs"
    files = sum(1 for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else 0
    return envelopes, files


def test_bombs_get_422_document_too_complex_and_nothing_is_created(rt: Runtime) -> None:
    client = TestClient(create_app(rt), base_url="http://testserver")
    m = member(rt)
    before = _stored(rt)
    for name, make in API_BOMBS.items():
        body = envelope_body(document=make())  # with anchor fields, as a client would send
        with peak_growth() as growth:
            r = client.post("/api/v1/envelopes", json=body, headers=m.auth)
        assert r.status_code == 422, (name, r.text)
        error = r.json()["error"]
        assert error["code"] == "document_too_complex", name
        assert "documents[0]" in error["message"]
        assert growth[0] < BOUND, (name, growth)
    assert _stored(rt) == before
    # The limits are the runtime's settings: a tight one refuses an ordinary document.
    tight = build_runtime(rt.settings.model_copy(update={"pdf_max_decoded_bytes": 1000}),
                          database=rt.db)
    r = TestClient(create_app(tight), base_url="http://testserver").post(
        "/api/v1/envelopes", json=envelope_body(), headers=m.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "document_too_complex"
    assert _stored(rt) == before
    described = client.app.openapi()["paths"]["/api/v1/envelopes"]["post"]["responses"]
    assert "document_too_complex" in described["422"]["description"]


def test_the_signers_page_image_of_a_hostile_document_is_a_422(rt: Runtime) -> None:
    """Defence in depth: a document inside the decoded limits whose page PDFium cannot
    draw within the renderer's memory (a million rectangles) is answered with a 422."""
    tight = build_runtime(rt.settings.model_copy(update={
        "pdf_render_memory_bytes": 256 * 1024 * 1024, "pdf_render_timeout_s": 10.0}),
        database=rt.db)
    client = TestClient(create_app(tight), base_url="http://testserver")
    m = member(tight)
    fields = [{"recipient": 0, "kind": "signature", "page": 1, "x": 72, "y": 600},
              {"recipient": 1, "kind": "signature", "page": 1, "x": 300, "y": 600}]
    body = envelope_body(document=bombs.operator_bomb(16 * bombs.MIB), fields=fields)
    r = client.post("/api/v1/envelopes", json=body, headers=m.auth)
    assert r.status_code == 201, r.text
    doc = r.json()["documents"][0]["id"]
    page = client.get(signing_link(tight, m.org_id, "ann@customer.example"))
    assert page.status_code == 200
    r = client.post("/sign/consent", data={"csrf_token": csrf(page.text), "agree": "yes"})
    assert r.status_code == 200
    with peak_growth() as growth:
        r = client.get(f"/sign/documents/{doc}/pages/1.png")
    assert r.status_code == 422
    assert "document_too_complex" in r.text or "too complex" in r.text
    assert growth[0] < BOUND
