"""A TCP proxy in front of PostgreSQL that a test can cut, stall and restore."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

from tests.e2e.server import free_port


class FaultyProxy:
    """Forwards 127.0.0.1:``port`` to ``target``, until told otherwise.

    ``cut`` closes every connection and refuses new ones, as a database that
    went away; ``stall`` accepts connections and forwards nothing, as a
    database that hangs; ``restore`` forwards again.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stalled = False
        self._stopping = False

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            doomed = list(self._sockets)
            self._sockets.clear()
        if listener is not None:
            # Closing alone leaves a thread blocked in accept() still accepting.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def stall(self) -> None:
        self.cut()
        self._stalled = True
        self.start()

    def restore(self) -> None:
        self.cut()
        self._stalled = False
        self.start()

    def stop(self) -> None:
        self._stopping = True
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._stalled:
                self._track(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._track(client, upstream)
            threading.Thread(
                target=self._pipe, args=(client, upstream), daemon=True
            ).start()

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._sockets.update(socks)

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while True:
                try:
                    ready = selector.select(timeout=1.0)
                    for key, _ in ready:
                        source: socket.socket = key.fileobj  # type: ignore[assignment]
                        data = source.recv(65536)
                        if not data:
                            raise ConnectionResetError
                        peers[source].sendall(data)
                except (OSError, ValueError):
                    break
        for sock in peers:
            sock.close()
