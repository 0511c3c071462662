"""A real `redis-server` for the tests of the Redis admission store: started on a free
loopback port with no persistence (so a restart comes back empty, as a crashed Redis
without a dump does), killed, paused and started again on the same port.

`make test` installs redis-server (the Makefile's `redis-server` step); a machine without it
fails these tests rather than skipping them, so a run can never silently not test Redis.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, password: str = "") -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `make redis-server` (make test does)")
        self.binary = binary
        self.password = password
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--loglevel", "warning"]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(self._command("PING"))
                    if s.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer within 10 s")

    def _command(self, *words: str) -> bytes:
        parts = [f"*{len(words)}\r\n".encode()]
        for w in words:
            parts.append(f"${len(w.encode())}\r\n{w}\r\n".encode())
        return b"".join(parts)

    def call(self, *words: str) -> bytes:
        """One command's raw reply (for the test to look inside Redis)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            if self.password:
                s.sendall(self._command("AUTH", self.password))
                s.recv(64)
            s.sendall(self._command(*words))
            return s.recv(65536)

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGCONT)  # a paused one must die too
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def pause(self) -> None:
        """Stop answering but keep the port open: a hung Redis, the slowest failure."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)
