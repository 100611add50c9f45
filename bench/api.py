"""Benchmark: the request path. ``GET /api/v1/envelopes/{id}`` with an API key on a real
``accord serve`` (embedded SQLite, worker off) against a bare FastAPI JSON endpoint served
by the same uvicorn in the same run.

    python bench/api.py [--quick] [--requests N]

Both servers run as separate processes on 127.0.0.1; one keep-alive client per server sends
requests alternately (Accord, bare, Accord, ...) so that both see the same machine load.
Latency is measured on the client, from sending the request to having read the whole
answer. The first 5% of each series is a warm-up and is not counted.

The LAST line printed is one JSON object with ``accord_p50_ms``, ``accord_p99_ms``,
``bare_p50_ms``, ``bare_p99_ms``, ``p50_ratio`` and ``p99_ratio`` (Accord / bare).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

BARE_APP = textwrap.dedent("""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/api/v1/envelopes/{envelope_id}")
    def envelope(envelope_id: str) -> dict[str, object]:
        return {"id": envelope_id, "status": "sent", "subject": "Support agreement",
                "recipients": [{"name": "Ann", "email": "ann@example.com",
                                "status": "sent"}], "fields": []}
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {timeout:.0f} s")


def _pdf() -> bytes:
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=612, height=792)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (< 60 s)")
    parser.add_argument("--requests", type=int, default=None,
                        help="requests per server (default 5000, --quick 1500)")
    args = parser.parse_args()
    n = args.requests or (1500 if args.quick else 5000)

    tmp = Path(tempfile.mkdtemp(prefix="accord-bench-api-"))
    accord_port, bare_port = _free_port(), _free_port()
    env = {**os.environ, "ACCORD_DATA_DIR": str(tmp / "data"), "ACCORD_PORT": str(accord_port),
           "ACCORD_RUN_WORKER": "false", "ACCORD_RATE_LIMITS": "false",
           "ACCORD_BASE_URL": f"http://127.0.0.1:{accord_port}"}
    (tmp / "bare_app.py").write_text(BARE_APP)
    procs = [
        subprocess.Popen([sys.executable, "-c", "from accord.cli import main; main()", "serve"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--host",
                          "127.0.0.1", "--port", str(bare_port), "--log-level", "warning"],
                         cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        accord_url, bare_url = f"http://127.0.0.1:{accord_port}", f"http://127.0.0.1:{bare_port}"
        _wait(f"{accord_url}/healthz", procs[0])
        _wait(f"{bare_url}/docs", procs[1])
        creds = (tmp / "data" / "demo-credentials.txt").read_text()
        key = next(line.split(":", 1)[1].strip() for line in creds.splitlines()
                   if line.startswith("api key:"))
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=accord_url, headers=headers) as ac, \
                httpx.Client(base_url=bare_url) as bc:
            made = ac.post("/api/v1/envelopes", json={
                "subject": "Support agreement",
                "documents": [{"name": "agreement.pdf",
                               "content_base64": base64.b64encode(_pdf()).decode()}],
                "recipients": [{"name": "Ann", "email": "ann@example.com",
                                "routing_order": 1}],
                "fields": [{"recipient": 0, "kind": "signature", "page": 1, "x": 72,
                            "y": 600}]})
            made.raise_for_status()
            path = f"/api/v1/envelopes/{made.json()['id']}"
            timings: dict[str, list[float]] = {"accord": [], "bare": []}
            print(f"{n} requests per server, alternating ...", flush=True)
            for i in range(n):
                for name, client in (("accord", ac), ("bare", bc)):
                    t0 = time.perf_counter()
                    r = client.get(path)
                    r.read()
                    timings[name].append((time.perf_counter() - t0) * 1000)
                    if r.status_code != 200:
                        raise SystemExit(f"{name}: {r.status_code} {r.text[:200]}")
                if (i + 1) % 500 == 0:
                    print(f"  {i + 1}/{n}", flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    skip = max(1, n // 20)
    a, b = timings["accord"][skip:], timings["bare"][skip:]
    figures = {
        "requests": len(a),
        "accord_p50_ms": round(_percentile(a, 0.5), 3),
        "accord_p99_ms": round(_percentile(a, 0.99), 3),
        "bare_p50_ms": round(_percentile(b, 0.5), 3),
        "bare_p99_ms": round(_percentile(b, 0.99), 3),
    }
    figures["p50_ratio"] = round(figures["accord_p50_ms"] / figures["bare_p50_ms"], 3)
    figures["p99_ratio"] = round(figures["accord_p99_ms"] / figures["bare_p99_ms"], 3)
    figures["loadavg_1m"] = round(os.getloadavg()[0], 2)
    figures["python"] = platform.python_version()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
