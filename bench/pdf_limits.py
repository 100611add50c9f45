"""Benchmark: what the document limits cost, on an ordinary document and on bombs.

    python bench/pdf_limits.py [--quick] [--rounds N]

(a) the limit check (``accord.documents.limits.check_limits``, uncached) of an ordinary
    3-page WeasyPrint contract, of a small hand-built one and of a heavy one (10 pages,
    each a 2000x2000 RGB Flate image: 120 MB decoded), against a plain pypdf
    ``PdfReader`` + page walk of the same bytes (what inspection did before the check);
(b) the refusal of each bomb of ``tests/documents/bombs.py`` (a Flate stream of 1 GiB, Flate
    of Flate, a predictor before Flate, a 50000x50000 image and inline image, 200k objects,
    a cross-reference stream of 5M entries): seconds and the growth of this process's peak
    RSS (VmHWM, reset before each case);
(c) one page image of the ordinary contract through the guarded subprocess
    (``render_page_png``) against PDFium in this process, and the child's peak RSS.

Figures only, no asserts. Progress goes to stdout; the LAST line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.documents import bombs

from accord.documents import pdf as pdfmod
from accord.documents.limits import PdfLimits, check_limits
from accord.documents.render_guard import run_guarded

MIB = 1024 * 1024


def _kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _median_s(fn: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _contract() -> bytes:
    from weasyprint import HTML

    body = "".join(f'<section style="page-break-after: always"><h1>Agreement page {i}</h1>'
                   + "<p>Terms and conditions of the support agreement. " * 40 + "</p>"
                   "</section>" for i in range(1, 3))
    body += "<section><p>Customer signature: ____</p></section>"
    pdf: bytes = HTML(string=f"<html><body>{body}</body></html>").write_pdf()
    return pdf


def _heavy(pages: int = 10, side: int = 2000) -> bytes:
    """An ordinary but heavy document: ``pages`` pages, each a ``side`` x ``side`` RGB
    Flate image (a gradient), 12 MB decoded each."""
    import zlib

    row = bytes((x * 255 // side) % 256 for x in range(side * 3))
    image = zlib.compress(row * side, 6)
    objects: list[bytes] = []
    kids = []
    for i in range(pages):
        first = 3 + 3 * i
        kids.append(first)
        objects += [
            bombs.page(first + 1, b"<< /XObject << /Im1 %d 0 R >> >>" % (first + 2)),
            bombs.stream(b"q 612 0 0 792 0 0 cm /Im1 Do Q"),
            bombs.stream(image, b"/Type /XObject /Subtype /Image /Width %d /Height %d "
                         b"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode"
                         % (side, side))]
    return bombs.build_pdf(objects, pages=kids)


def _plain(data: bytes) -> None:
    reader = PdfReader(io.BytesIO(data), strict=True)
    for page in reader.pages:
        _ = page.mediabox


def _checked(data: bytes) -> None:
    reader = PdfReader(io.BytesIO(data), strict=True)
    check_limits(reader, PdfLimits())
    for page in reader.pages:
        _ = page.mediabox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (under 60 s)")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.quick else 30)
    figures: dict[str, Any] = {"rounds": rounds, "python": platform.python_version()}

    documents = {"contract": _contract(), "small": bombs.normal(), "heavy": _heavy()}
    for name, data in documents.items():
        runs = rounds if name != "heavy" else max(1, rounds // 3)
        plain = _median_s(lambda d=data: _plain(d), runs)
        checked = _median_s(lambda d=data: _checked(d), runs)
        figures[f"{name}_bytes"] = len(data)
        figures[f"{name}_plain_ms"] = round(plain * 1000, 2)
        figures[f"{name}_checked_ms"] = round(checked * 1000, 2)
        figures[f"{name}_check_overhead_ms"] = round((checked - plain) * 1000, 2)
        print(f"{name}: {len(data):,} bytes, read {plain * 1000:.2f} ms, read + check "
              f"{checked * 1000:.2f} ms", flush=True)

    cases: dict[str, Callable[[], bytes]] = {
        "flate_1gib": bombs.flate_bomb, "flate_of_flate": bombs.nested_bomb,
        "predictor_flate": bombs.predictor_bomb, "image_50000": bombs.image_bomb,
        "inline_image_50000": bombs.inline_image_bomb,
        "objects_200k": bombs.many_streams, "xref_stream_5m": bombs.xref_stream_bomb}
    can_reset = _reset_peak()
    for name, make in cases.items():
        data = make()
        _reset_peak()
        before = _kb("VmRSS")
        t = time.perf_counter()
        try:
            pdfmod.inspect_pdf(data, max_bytes=25 * MIB, max_pages=500)
            code = "accepted"
        except pdfmod.DocumentError as exc:
            code = exc.code
        elapsed = time.perf_counter() - t
        growth = (_kb("VmHWM") - before) / 1024 if can_reset else None
        figures[f"bomb_{name}_s"] = round(elapsed, 3)
        figures[f"bomb_{name}_rss_growth_mib"] = None if growth is None else round(growth, 1)
        figures[f"bomb_{name}_answer"] = code
        print(f"bomb {name}: {len(data):,} bytes -> {code} in {elapsed:.2f} s, peak RSS "
              f"+{growth} MiB", flush=True)

    contract = documents["contract"]
    run_guarded("os:getpid", memory_bytes=1024 * MIB, timeout_s=60)  # start the helper
    guarded = _median_s(lambda: pdfmod.render_page_png(contract, 1), rounds)
    local = _median_s(lambda: pdfmod._render_page_png(contract, 1, 900), rounds)
    child = run_guarded("accord.documents.pdf:_render_page_png", contract, 1, 900,
                        memory_bytes=1024 * MIB, timeout_s=30)
    figures.update(render_guarded_ms=round(guarded * 1000, 1),
                   render_in_process_ms=round(local * 1000, 1),
                   render_child_peak_rss_mib=round(child.peak_rss_bytes / MIB, 1),
                   render_child_memory_limit_mib=child.memory_limit_bytes // MIB,
                   process_peak_rss_mib=round(
                       resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    print(f"page image: guarded {guarded * 1000:.1f} ms, in process {local * 1000:.1f} ms, "
          f"child peak RSS {child.peak_rss_bytes / MIB:.1f} MiB", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
