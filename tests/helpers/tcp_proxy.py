"""A tiny TCP proxy that can simulate a database outage.

    proxy = TcpProxy("127.0.0.1", 5432).start()
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
    ...
    proxy.outage()    # every open connection is closed; new ones are closed at once
    proxy.restore()   # connections go through again
    proxy.close()

``outage(mode="stall")`` simulates a network partition instead: connections stay open
but nothing gets through (new ones are accepted and never answered); ``restore()`` then
resets every connection that lived through the stall.

Threads only (one accept loop, two pumps per connection); no dependencies.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import List, Optional, Set, Tuple


def _kill(sock: socket.socket) -> None:
    """Close ``sock`` now, with a reset rather than a graceful FIN when possible."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1", listen_port: int = 0):
        self.target = (target_host, target_port)
        self._listen_addr = (listen_host, listen_port)
        self._server: Optional[socket.socket] = None
        self._lock = threading.Lock()
        self._pairs: Set[Tuple[socket.socket, socket.socket]] = set()
        self._down = False
        self._stalled = False
        self._stalled_socks: List[socket.socket] = []
        self._closed = False
        self.accepted = 0
        self.refused = 0  # connections closed at once during an outage
        self.killed = 0  # open connections closed by outage()
        self.events: List[Tuple[float, str]] = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> "TcpProxy":
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(self._listen_addr)
        server.listen(128)
        self._server = server
        self._listen_addr = (self._listen_addr[0], server.getsockname()[1])  # the same port after "refuse"
        threading.Thread(target=self._accept_loop, name="tcp-proxy-accept", daemon=True).start()
        return self

    @property
    def port(self) -> int:
        return self._listen_addr[1]

    def close(self) -> None:
        self._closed = True
        if self._server is not None:
            _kill(self._server)
        self._kill_all()

    # -- outage --------------------------------------------------------------------------

    @property
    def is_down(self) -> bool:
        return self._down

    def outage(self, mode: str = "close") -> int:
        """The database "stops": close every open connection and close new ones once
        accepted (``mode`` "close"), or stop listening so connecting is refused, as with a
        stopped server ("refuse"), or let nothing through any more ("stall"). Returns how
        many connections were open."""
        self.events.append((time.monotonic(), f"down ({mode})"))
        if mode == "refuse":
            self._down = True
            server, self._server = self._server, None
            if server is not None:
                _kill(server)
            return self._kill_all()
        if mode == "stall":
            self._stalled = True
            return self.open_connections()
        self._down = True
        return self._kill_all()

    def restore(self) -> None:
        if self._stalled:
            self._stalled = False
            self._kill_all()
            socks, self._stalled_socks = self._stalled_socks, []
            for s in socks:
                _kill(s)
        self._down = False
        if self._server is None and not self._closed:  # after "refuse": listen again
            self.start()
        self.events.append((time.monotonic(), "up"))

    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    # -- internals -----------------------------------------------------------------------

    def _kill_all(self) -> int:
        with self._lock:
            pairs = list(self._pairs)
            self._pairs.clear()
        for a, b in pairs:
            _kill(a)
            _kill(b)
        self.killed += len(pairs)
        return len(pairs)

    def _accept_loop(self) -> None:
        server = self._server
        assert server is not None
        while not self._closed:
            try:
                client, _ = server.accept()
            except OSError:
                return
            if self._down:
                self.refused += 1
                _kill(client)
                continue
            if self._stalled:  # accepted, never answered
                self._stalled_socks.append(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                self.refused += 1
                _kill(client)
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, upstream)
            with self._lock:
                if self._down:  # went down while connecting
                    _kill(client)
                    _kill(upstream)
                    self.refused += 1
                    continue
                self._pairs.add(pair)
            self.accepted += 1
            threading.Thread(target=self._pump, args=(client, upstream, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, pair), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, pair) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self._stalled:
                    continue  # lost in the partition
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._pairs.discard(pair)
        _kill(src)
        _kill(dst)
