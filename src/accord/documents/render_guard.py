"""Run a rendering job (PDFium, WeasyPrint) in a subprocess under ``RLIMIT_AS`` and a
wall-clock limit, so that a hostile document costs the server nothing but a refusal.

One small helper process (``python -m accord.documents.render_guard``) is started lazily
and preloads the rendering modules. It is single-threaded and does one thing: for each job
it receives a socket (``SCM_RIGHTS``) and forks a child -- forking from a single-threaded
process is safe, forking the multi-threaded server is not. The child sets ``RLIMIT_AS``,
``RLIMIT_CPU`` and an ``ITIMER_REAL`` alarm (whose default action kills it even inside C
code), reads the job from its socket, runs it and writes back the result with its peak RSS.
A child that dies (out of memory, killed by the alarm) or stays silent past the timeout is
answered with ``DocumentError("document_too_complex")``.

A job is ``module:function`` with picklable arguments and a picklable result.
``DocumentError`` raised by the job is passed back as it was.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import math
import os
import pickle
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

from accord.documents.errors import DocumentError
from accord.documents.limits import TOO_COMPLEX

__all__ = ["GuardResult", "preload", "run_guarded"]

_PRELOAD: list[str] = ["accord.documents.pdf"]
_HEADER = struct.Struct("!Q")
_STARTUP_S = 120.0  # loading WeasyPrint and warming its fonts on a busy machine
#: Children of one process running at a time: the memory they may take together is this
#: times the job's limit (other jobs wait their turn).
CONCURRENT_JOBS = 2
_SLOTS = threading.BoundedSemaphore(CONCURRENT_JOBS)


@dataclass(frozen=True)
class GuardResult:
    value: Any
    peak_rss_bytes: int      # the child's peak resident set size
    memory_limit_bytes: int  # the RLIMIT_AS it ran under


def preload(module: str) -> None:
    """Have the helper import ``module`` once, before forking (call at import time);
    ``"module:function"`` also calls ``function()`` there (to warm caches)."""
    if module not in _PRELOAD:
        _PRELOAD.append(module)


# ------------------------------------------------------------------ the server's side


class _Server:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None

    def _start(self) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
            [sys.executable, "-m", "accord.documents.render_guard", str(theirs.fileno()),
             *_PRELOAD], pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL,
            close_fds=True)
        theirs.close()
        ours.settimeout(_STARTUP_S)  # the helper says when its modules are loaded
        try:
            ready = ours.recv(1)
        except TimeoutError:
            ready = b""
        if ready != b"r":
            ours.close()
            raise RuntimeError("the render guard's helper process did not start")
        ours.settimeout(None)
        self.control = ours
        return ours

    def submit(self) -> socket.socket:
        """A fresh socket connected to a newly forked child of the helper."""
        mine, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self.lock:
                for attempt in (1, 2):
                    alive = self.proc is not None and self.proc.poll() is None
                    control = self.control if alive and self.control else self._restart()
                    try:
                        socket.send_fds(control, [b"j"], [child.fileno()])
                        break
                    except OSError:
                        if attempt == 2:
                            raise
                        control.close()
                        self.control = None  # start a new helper on the next attempt
        finally:
            child.close()
        return mine

    def _restart(self) -> socket.socket:
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
        return self._start()

    def forget(self) -> None:
        """In a forked copy of this process: start a helper of its own when needed."""
        global _SLOTS  # noqa: PLW0603 -- a fresh semaphore in the forked copy
        _SLOTS = threading.BoundedSemaphore(CONCURRENT_JOBS)
        self.lock = threading.Lock()
        self.proc, self.control = None, None

    def stop(self) -> None:
        """Close the helper (it exits when its control socket closes)."""
        with self.lock:
            if self.control is not None:
                self.control.close()
                self.control = None
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                self.proc = None


_SERVER = _Server()
atexit.register(_SERVER.stop)
os.register_at_fork(after_in_child=_SERVER.forget)


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _recv(sock: socket.socket) -> bytes | None:
    head = _recv_exact(sock, _HEADER.size)
    if head is None:
        return None
    return _recv_exact(sock, _HEADER.unpack(head)[0])


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    parts, got = [], 0
    while got < size:
        part = sock.recv(min(size - got, 1 << 20))
        if not part:
            return None
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def run_guarded(job: str, *args: Any, memory_bytes: int, timeout_s: float) -> GuardResult:
    """Run ``job`` (``"package.module:function"``) on ``args`` in a fresh child of the
    helper with ``memory_bytes`` of address space and ``timeout_s`` of wall clock (at most
    ``CONCURRENT_JOBS`` at a time per process)."""
    with _SLOTS:
        return _run(job, args, memory_bytes, timeout_s)


def _run(job: str, args: tuple[Any, ...], memory_bytes: int, timeout_s: float) -> GuardResult:
    sock = _SERVER.submit()
    try:
        sock.settimeout(timeout_s + 10.0)  # a backstop: the child's own alarm kills it
        _send(sock, pickle.dumps((job, args, memory_bytes, timeout_s), protocol=5))
        try:
            answer = _recv(sock)
        except TimeoutError:
            answer = None
    finally:
        sock.close()
    if answer is None:
        raise DocumentError(TOO_COMPLEX, "The document is too complex to render safely: "
                            f"it needed more than {memory_bytes // 2**20:,} MiB of memory "
                            f"or {timeout_s:g} s.")
    kind, value, peak = pickle.loads(answer)  # noqa: S301 -- from our own child
    if kind == "document_error":
        raise DocumentError(*value)
    if kind == "error":
        raise RuntimeError(f"the rendering job {job} failed: {value}")
    return GuardResult(value=value, peak_rss_bytes=peak, memory_limit_bytes=memory_bytes)


# ------------------------------------------------------------------ the helper's side


def _child(sock: socket.socket) -> None:
    request = _recv(sock)
    if request is None:
        return
    job, args, memory_bytes, timeout_s = pickle.loads(request)  # noqa: S301 -- our parent
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    cpu = math.ceil(timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    module, _, name = job.partition(":")
    try:
        value = getattr(importlib.import_module(module), name)(*args)
        answer: tuple[str, Any] = ("ok", value)
    except DocumentError as exc:
        answer = ("document_error", (exc.code, exc.message))
    except MemoryError:
        return  # the parent answers document_too_complex
    except Exception as exc:  # reported to the parent, which raises it
        answer = ("error", f"{type(exc).__name__}: {exc}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    _send(sock, pickle.dumps((*answer, peak), protocol=5))


def _serve(control_fd: int, modules: list[str]) -> None:
    for entry in modules:
        module, _, warm = entry.partition(":")
        with contextlib.suppress(Exception):  # a job importing it reports the error
            loaded = importlib.import_module(module)
            if warm:
                getattr(loaded, warm)()
    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    control.sendall(b"r")
    while True:
        try:
            _msg, fds, _flags, _addr = socket.recv_fds(control, 16, 4)
        except OSError:
            return
        if not _msg:
            return  # the server closed its end: it has gone
        for fd in fds:
            _fork_child(control, fd, fds)
        for fd in fds:
            os.close(fd)


def _fork_child(control: socket.socket, fd: int, batch: list[int]) -> None:
    if os.fork() == 0:
        status = 0
        try:
            control.close()
            for other in batch:
                if other != fd:
                    os.close(other)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            with socket.socket(fileno=fd) as sock:
                _child(sock)
        except BaseException:
            status = 1
        finally:
            os._exit(status)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2:])
