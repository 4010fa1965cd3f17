"""A free TCP port on the loopback interface, for the servers vitflow starts (mongod, the
Prefect server, the FiftyOne App): the kernel picks it, nothing listens beyond 127.0.0.1."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
