"""Start ``loopml`` server processes without paying Python's start-up and imports each time.

A test that needs a live ``loopml server`` only as the other end of the wire (the contract
suite's ``remote`` backend, the ``server`` fixture) gets a real, separate process of its own,
over its own stores, as before; only the way it comes to life differs. One *launcher* process
per test worker imports ``loopml``'s CLI and server modules once (FastAPI, pydantic,
SQLAlchemy: most of a server's start-up); each server is then a ``fork()`` of it that sets the
test's environment, working folder and log, and runs the same entry point as the installed
``loopml`` command (``loopml.cli.app.main`` with its argv). Nothing of the store is opened
before the fork, so no two servers share a connection, a cache or a file handle.

At its end a forked server runs what a normal interpreter exit runs for loopml (``atexit``
handlers, the wait for non-daemon threads) and flushes its output, then leaves with
``os._exit``: the module teardown of a full interpreter (a few hundred ms of CPU) is skipped.

Tests about the process itself (its start, its exit, two servers on one store, ``--auth``
start-up messages...) keep calling :func:`tests.plugins.server.start_server` without a
launcher, which starts the installed ``loopml`` command.

The launcher speaks lines of JSON on its stdin/stdout: ``{"argv", "env", "cwd", "log"}`` is
answered with ``{"pid"}``; each child's end is reported as ``{"exit": pid, "code"}`` (code as
``subprocess`` gives it: negative for a signal). Closing its stdin ends it; children still
running then are killed by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

# What a server imports before it answers, loaded once in the launcher.
PRELOAD = (
    "loopml.cli.app",
    "loopml.server.run",
    "loopml.server.app",
    "loopml.server.routes",
    "loopml.server.ui",
    "uvicorn",
    "uvicorn.config",
    "uvicorn.server",
)


class Launched:
    """A process forked by the launcher, with the part of ``subprocess.Popen``'s interface the
    server fixtures use (``pid``, ``returncode``, ``poll``, ``wait``, ``send_signal``,
    ``kill``)."""

    def __init__(self, launcher: Launcher, pid: int) -> None:
        self.launcher = launcher
        self.pid = pid

    @property
    def returncode(self) -> int | None:
        return self.launcher.codes.get(self.pid)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        with self.launcher.ended:
            if not self.launcher.ended.wait_for(
                lambda: self.pid in self.launcher.codes or self.launcher.gone, timeout
            ):
                raise subprocess.TimeoutExpired(f"launched pid {self.pid}", timeout or 0)
        code = self.returncode
        if code is None:
            raise RuntimeError(f"the launcher ended before reporting pid {self.pid}")
        return code

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:  # not reaped yet, so the pid is still this process's
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class Launcher:
    """The test process's side of one launcher process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.codes: dict[int, int] = {}
        self.ended = threading.Condition()
        self.gone = False
        self._answers: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="launcher-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            with self.ended:
                if "exit" in message:
                    self.codes[int(message["exit"])] = int(message["code"])
                else:
                    self._answers.append(message)
                self.ended.notify_all()
        with self.ended:
            self.gone = True
            self.ended.notify_all()

    def launch(self, argv: list[str], env: dict[str, str], log: Path) -> Launched:
        """Fork a process running the ``loopml`` command with ``argv`` (without the program
        name) under ``env``, in the current folder, its output going to ``log``."""
        request = {"argv": argv, "env": env, "cwd": os.getcwd(), "log": str(log)}
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
            with self.ended:
                if not self.ended.wait_for(lambda: self._answers or self.gone, 60):
                    raise RuntimeError("the launcher did not answer within 60 s")
                if not self._answers:
                    raise RuntimeError(f"the launcher ended with code {self.proc.poll()}")
                answer = self._answers.pop(0)
        if "error" in answer:
            raise RuntimeError(f"the launcher could not fork: {answer['error']}")
        return Launched(self, int(answer["pid"]))

    def close(self) -> None:
        """End the launcher (it kills children still running) and wait for it."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# ---- the launcher process ------------------------------------------------------------


def _child(request: dict[str, Any], closing: list[int]) -> int:
    """In the forked child: become a ``loopml`` command run as ``request`` says."""
    import atexit

    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a fresh interpreter
    for fd in closing:
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [str(Path(sys.executable).with_name("loopml")), *request["argv"]]
    code = 0
    try:
        from loopml.cli.app import main

        main()
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            sys.stderr.write(f"{exc.code}\n")
            code = 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    # What the interpreter's exit would do for loopml, without the module teardown.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    return code


def _serve() -> None:
    import importlib
    import selectors

    for name in PRELOAD:
        importlib.import_module(name)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C of the test run: the tests stop us
    out = sys.stdout.buffer
    children: set[int] = set()

    def say(message: dict[str, Any]) -> None:
        out.write(json.dumps(message).encode() + b"\n")
        out.flush()

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            say({"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    pending = b""
    while True:
        for key, _ in selector.select():
            if key.fd == wake_r:
                while True:
                    try:
                        if not os.read(wake_r, 4096):
                            break
                    except BlockingIOError:
                        break
                reap()
                continue
            data = os.read(0, 1 << 16)
            if not data:
                for pid in children:
                    os.kill(pid, signal.SIGKILL)
                while children:
                    pid, _status = os.waitpid(-1, 0)
                    children.discard(pid)
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                sys.stdout.flush()
                sys.stderr.flush()
                try:
                    pid = os.fork()
                except OSError as exc:
                    say({"error": str(exc)})
                    continue
                if pid == 0:
                    code = 1
                    try:
                        selector.close()
                        code = _child(request, [wake_r, wake_w])
                    finally:
                        os._exit(code)
                children.add(pid)
                say({"pid": pid})
        reap()


if __name__ == "__main__":
    _serve()
