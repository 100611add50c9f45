"""Benchmark: the render engine against bare WeasyPrint on the same final HTML.

    python bench/render.py [--quick] [--rounds N]

(a) accord: ``accord.drafting.render.render()`` of the shipped support services agreement
    with its sample data -- sandboxed Jinja2, Markdown, clauses, field tags, layout, field
    positions read back, PDF;
(b) bare: the very HTML and stylesheet the engine produced (``render_html``) through
    ``weasyprint.HTML(string=...).write_pdf(stylesheets=[CSS(string=...)])``, built the
    plain way on every round.

Rounds alternate (a), (b) after one warm-up of each, and each run is timed on two clocks:
the process's CPU time (the default basis of the figures: other work on a shared machine
does not count against either path; WeasyPrint is single-threaded) and wall time.
Pages per second = pages of the document / the median seconds of one render (the median
keeps one disturbed round from deciding the ratio); ``*_mean_*`` figures use the mean.
``--clock wall`` makes wall time the basis. Progress goes to stdout; the LAST line is one
JSON object with the figures: ``accord_pages_per_s``, ``bare_pages_per_s`` and ``ratio``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable

import weasyprint
from weasyprint import CSS, HTML

from accord.drafting.examples import load_examples
from accord.drafting.render import render, render_html
from accord.drafting.variables import parse_specs, validate

TEMPLATE = "support-services-agreement"
ENVELOPE = "env_bench_0001"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds (CI smoke run)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="the clock the headline figures are based on")
    args = parser.parse_args()
    rounds = args.rounds or (10 if args.quick else 30)

    examples = load_examples()
    seed = next(t for t in examples.templates if t.key == TEMPLATE)
    clauses = {c.key: c.body for c in examples.clauses}
    context, problems = validate(parse_specs(seed.variables), seed.sample_data)
    if problems:
        print(f"sample data does not validate: {problems}", file=sys.stderr)
        return 1
    page = render_html(seed.source, seed.kind, context, clauses, title=seed.name,
                       envelope_id=ENVELOPE)

    def accord() -> bytes:
        return render(seed.source, seed.kind, context, clauses, title=seed.name,
                      envelope_id=ENVELOPE).pdf

    def bare() -> bytes:
        pdf: bytes = HTML(string=page.html).write_pdf(
            stylesheets=[CSS(string=page.stylesheet)])
        return pdf

    paths: dict[str, Callable[[], bytes]] = {"accord": accord, "bare": bare}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    wall: dict[str, list[float]] = {name: [] for name in paths}
    pages: dict[str, int] = {}
    for name, run in paths.items():  # warm-up: imports, fonts, first compile
        started = time.perf_counter()
        pdf = run()
        elapsed = time.perf_counter() - started
        pages[name] = _count_pages(pdf)
        print(f"warm-up {name}: {pages[name]} pages in {elapsed:.3f} s", flush=True)
    if pages["accord"] != pages["bare"]:
        print(f"page counts differ: {pages}", file=sys.stderr)
        return 1
    for index in range(rounds):
        order = list(paths) if index % 2 == 0 else list(reversed(paths))
        for name in order:
            started, started_cpu = time.perf_counter(), time.process_time()
            paths[name]()
            cpu[name].append(time.process_time() - started_cpu)
            wall[name].append(time.perf_counter() - started)
        print(f"round {index + 1}/{rounds}: accord {wall['accord'][-1]:.3f} s "
              f"(cpu {cpu['accord'][-1]:.3f}), bare {wall['bare'][-1]:.3f} s "
              f"(cpu {cpu['bare'][-1]:.3f})", flush=True)

    def per_s(times: dict[str, list[float]], *, mean: bool = False) -> dict[str, float]:
        middle = statistics.fmean if mean else statistics.median
        return {name: pages[name] / middle(t) for name, t in times.items()}

    def ratio(figures: dict[str, float]) -> float:
        return round(figures["accord"] / figures["bare"], 3)

    on_cpu, on_wall = per_s(cpu), per_s(wall)
    head = on_cpu if args.clock == "cpu" else on_wall
    result = {
        "template": TEMPLATE,
        "pages": pages["accord"],
        "rounds": rounds,
        "clock": args.clock,
        "accord_pages_per_s": round(head["accord"], 2),
        "bare_pages_per_s": round(head["bare"], 2),
        "ratio": ratio(head),
        "cpu_ratio": ratio(on_cpu),
        "cpu_mean_ratio": ratio(per_s(cpu, mean=True)),
        "wall_accord_pages_per_s": round(on_wall["accord"], 2),
        "wall_bare_pages_per_s": round(on_wall["bare"], 2),
        "wall_ratio": ratio(on_wall),
        "wall_mean_ratio": ratio(per_s(wall, mean=True)),
        "accord_median_s": round(statistics.median(wall["accord"]), 4),
        "bare_median_s": round(statistics.median(wall["bare"]), 4),
        "weasyprint": weasyprint.__version__,
        "python": platform.python_version(),
    }
    print(json.dumps(result))
    return 0


def _count_pages(pdf: bytes) -> int:
    import io

    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


if __name__ == "__main__":
    raise SystemExit(main())
