"""A TCP relay in front of a real redis-server that breaks one connection in the middle of a pipeline.

What a broken connection leaves is up to timing on a real network; here it is
chosen: of the next connection to send EVALSHAs, the server gets the first
``run`` of them, the client the replies of the first ``answer``; then the
connection either closes, once the server ran all ``run`` (what a client sees
when the server dropped it), or hangs (the client times out) with the rest
held back, to reach the server on the old connection when the test calls
`CutProxy.release_held` (a server still reading a connection its client gave
up on). Every other connection, the limiter's retry included, is relayed as
it is; ``before_answer`` runs once the server answered an HMGET (the limiter
asking a bucket what ran) and before the client gets that answer, so another
caller can write the bucket between the question and the retry.

`CutProxy.pause` breaks nothing: the server runs the first ``run`` EVALSHAs of
the next pipeline, then the test's ``then`` (a SCRIPT FLUSH from elsewhere, say),
then the rest, on the same connection.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


def resp_end(buf: bytes | bytearray, pos: int) -> int | None:
    """Where the RESP value (2 or 3) starting at ``pos`` ends; None if ``buf`` does not hold all of it yet."""
    line = buf.find(b"\r\n", pos)
    if line < 0:
        return None
    kind, head, after = buf[pos : pos + 1], buf[pos + 1 : line], line + 2
    if kind in b"+-:_#,(":
        return after
    if kind in b"$!=":
        end = after + int(head) + 2 if int(head) >= 0 else after
        return end if len(buf) >= end else None
    if kind in b"*~>%":
        for _ in range(max(int(head), 0) * (2 if kind == b"%" else 1)):
            found = resp_end(buf, after)
            if found is None:
                return None
            after = found
        return after
    raise ValueError(f"not RESP: {bytes(buf[pos:pos + 20])!r}")


@dataclass
class Cut:
    run: int
    answer: int
    close: bool
    owner: socket.socket | None = None  # the client connection it applies to
    upstream: socket.socket | None = None  # that connection's own to the server
    before_answer: Callable[[], None] | None = None
    then: Callable[[], None] | None = None  # `pause`: run between the first ``run`` and the rest
    resumed: bool = False  # `pause`: the rest goes through
    forwarded: int = 0  # EVALSHAs the server got
    ran: int = 0  # EVALSHA replies the server sent
    held: list[bytes] = field(default_factory=list)  # commands not sent yet


class CutProxy:
    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self._listener.getsockname()[:2]
        self._changed = threading.Condition()
        self._cut: Cut | None = None
        self._sent: dict[socket.socket, deque[bytes]] = {}  # per server connection: the name of each command in flight
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, run: int, answer: int, *, close: bool = True, before_answer: Callable[[], None] | None = None) -> Cut:
        """Break the next connection that sends EVALSHAs, as the module docstring says."""
        with self._changed:
            self._cut = Cut(run, answer, close, before_answer=before_answer)
            return self._cut

    def pause(self, run: int, then: Callable[[], None]) -> Cut:
        """The server runs the next pipeline's first ``run`` EVALSHAs, then ``then`` runs, then the server gets the rest."""
        with self._changed:
            self._cut = Cut(run, answer=1 << 62, close=False, then=then)
            return self._cut

    def release_held(self, timeout: float = 30.0) -> None:
        """Send the held-back commands to the server on the old connection; return once it answered them all."""
        with self._changed:
            cut = self._cut
            assert cut is not None and not cut.close and cut.upstream is not None
            self._release(cut)
            answered = self._changed.wait_for(lambda: not self._sent[cut.upstream], timeout)  # type: ignore[index]
        _close(cut.upstream)
        assert answered, "the server did not answer the held commands"

    def _release(self, cut: Cut) -> None:
        """The held-back commands to the server, in order (under the lock)."""
        assert cut.upstream is not None
        held, cut.held = cut.held, []
        names = [name_of(command) for command in held]
        cut.forwarded += names.count(b"EVALSHA")
        self._sent[cut.upstream].extend(names)
        cut.upstream.sendall(b"".join(held))

    def close(self) -> None:
        self._listener.close()

    # -- relaying ----------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            self._sent[upstream] = deque()
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._replies, args=(client, upstream), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        buf = bytearray()
        while chunk := _recv(client):
            buf += chunk
            pos, out = 0, bytearray()
            with self._changed:
                while (end := resp_end(buf, pos)) is not None:
                    command, pos = bytes(buf[pos:end]), end
                    if not self._hold(command, client, upstream):
                        out += command
                upstream.sendall(out)
            del buf[:pos]
        cut = self._cut
        if cut is None or cut.owner is not client or cut.close:
            _close(upstream)  # (a hung connection stays open to the server: release_held uses it)

    def _hold(self, command: bytes, client: socket.socket, upstream: socket.socket) -> bool:
        """Whether ``command`` is held back; if not, it is counted as sent (under the lock)."""
        name = name_of(command)
        evalsha = name == b"EVALSHA"
        cut = self._cut
        if evalsha and cut is not None and cut.owner is None:
            cut.owner, cut.upstream = client, upstream
        if cut is not None and cut.owner is client and not cut.resumed:
            if cut.held or (evalsha and cut.forwarded >= cut.run):
                cut.held.append(command)
                return True
            cut.forwarded += evalsha
        self._sent[upstream].append(name)
        return False

    def _replies(self, client: socket.socket, upstream: socket.socket) -> None:
        buf = bytearray()
        while chunk := _recv(upstream):
            buf += chunk
            pos, out = 0, bytearray()
            with self._changed:
                cut = self._cut
                mine = cut is not None and cut.owner is client
                while (end := resp_end(buf, pos)) is not None:
                    reply, pos = bytes(buf[pos:end]), end
                    name = self._sent[upstream].popleft()
                    if name == b"EVALSHA" and mine:
                        cut.ran += 1  # type: ignore[union-attr]
                        if cut.ran > cut.answer:  # type: ignore[union-attr]
                            continue  # run, not answered
                    if name == b"HMGET" and cut is not None and cut.before_answer is not None:
                        cut.before_answer()
                        cut.before_answer = None
                    out += reply
                if mine and cut.then is not None and cut.forwarded >= cut.run and cut.ran >= cut.run:  # type: ignore[union-attr]
                    cut.then()  # type: ignore[union-attr]
                    cut.then, cut.resumed = None, True  # type: ignore[union-attr]
                    self._release(cut)  # type: ignore[arg-type]
                self._changed.notify_all()
                broken = mine and cut.close and cut.forwarded >= cut.run and cut.ran >= cut.run  # type: ignore[union-attr]
            del buf[:pos]
            try:
                client.sendall(out)
            except OSError:
                pass  # the client gave up on a hung connection: the server's replies go nowhere
            if broken:
                _close(client)
                _close(upstream)
                return
        _close(client)


def name_of(command: bytes) -> bytes:
    return command.split(b"\r\n", 3)[2].upper()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
