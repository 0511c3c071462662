"""Ports for the servers tests and the bench start: free, and never an ephemeral port."""

from __future__ import annotations

import socket

from bench import isolation


def test_free_ports_are_bindable_and_below_the_ephemeral_range():
    start = isolation._ephemeral_start()
    for _ in range(20):
        port = isolation.free_port()
        if start - isolation._FIRST_PORT >= 1000:
            assert isolation._FIRST_PORT <= port < start
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_someone_listens_on_is_never_returned(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setattr(isolation, "_FIRST_PORT", busy)
        monkeypatch.setattr(isolation, "_ephemeral_start", lambda: busy + 1000)
        assert all(isolation.free_port() != busy for _ in range(50))


def test_without_room_below_the_ephemeral_range_the_kernel_picks(monkeypatch):
    monkeypatch.setattr(isolation, "_ephemeral_start", lambda: 1024)
    port = isolation.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
