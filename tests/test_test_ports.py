"""The test servers' ports (registered in the realm) stay usable after busy tests: a port
whose connections linger in TIME_WAIT can be bound again by a server, so it counts as free."""

from __future__ import annotations

import socket
import time
from contextlib import closing

from tests.support.stack import TEST_PORTS, pick_test_port


def _leave_in_time_wait(port: int) -> bool:
    """Serve one connection on `port` and close it from the server's side first, as a test
    server does, which leaves the port's end of it in TIME_WAIT. False if the port is busy."""
    with closing(socket.socket()) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(("127.0.0.1", port))
        except OSError:
            return False  # another test run serves on it now
        server.listen()
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = server.accept()
        conn.close()
        time.sleep(0.01)
        client.close()
    return True


def test_a_port_left_in_time_wait_is_picked_again() -> None:
    lingering = {port for port in TEST_PORTS if _leave_in_time_wait(port)}
    assert lingering, "every test port is served by another run"
    assert pick_test_port() in TEST_PORTS  # not "all test ports are taken"
