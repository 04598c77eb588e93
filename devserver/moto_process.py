"""moto's DynamoDB in a process of its own, for `make run`.

A DynamoDB transaction costs moto tens of milliseconds of Python; in the gateway's process that CPU holds the
GIL the HTTP threads need, and a burst of /ai calls would slow every other request down (the health check's p95
went from ~20 ms to ~75 ms under bench/load.py). In a child process it only competes for a core.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection

from devserver.dynamo import start_moto_server

STARTUP_S = 60  # importing moto takes a second or two; far more on a loaded machine


def _serve(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the parent stops us
    server = start_moto_server("127.0.0.1", 0)
    conn.send(server.url)
    with contextlib.suppress(EOFError):
        conn.recv()  # nothing is ever sent: EOF when the parent closes the pipe or dies
    server.stop()


@contextmanager
def moto_process() -> Iterator[str]:
    """Yields the endpoint URL of a moto server running in a child process, stopped on exit."""
    parent_conn, child_conn = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(child_conn,), name="moto-dynamodb", daemon=True
    )
    process.start()
    child_conn.close()  # so that a dead child is an EOF here
    try:
        if not parent_conn.poll(STARTUP_S):
            raise RuntimeError(f"moto did not start within {STARTUP_S} s")
        yield parent_conn.recv()
    finally:
        parent_conn.close()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
