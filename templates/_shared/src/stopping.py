"""Stop without dropping a connection: on SIGTERM (or Ctrl-C) readiness turns false, no new
connection gets in, every connection already made is answered, then the process exits.

Closing a listening socket resets the connections waiting in its backlog: the kernel completed
their handshake, the server had not accepted them yet, and their clients think they are
connected. So on the signal, the socket first drops new connection attempts (a socket filter
that drops SYN segments, on Linux); the server goes on accepting for DRAIN_SECONDS, which empties
the backlog and lets handshakes already under way finish; only then does uvicorn stop accepting
and finish the requests it has (its graceful shutdown, bounded by timeout_graceful_shutdown).
A client that tries to connect meanwhile retries its SYN and is refused once the socket has
closed: it never had a connection. Answers sent while stopping say `Connection: close`, so a
client with a kept-alive connection opens its next one elsewhere.

On Kubernetes the pod's preStop sleep keeps the service answering while the Service stops
sending it traffic (deploy/kubernetes/deployment.yaml).
"""

import ctypes
import socket
import struct
import sys
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DRAIN_SECONDS = 0.5  # a handshake under way takes one round trip; accepting the backlog, less

SO_ATTACH_FILTER = 26  # Linux's; Python's socket module does not name it
# A classic BPF program, one (code, jump if true, jump if false, operand) per instruction.
_DROP_SYN = [
    (0x30, 0, 0, 13),  # load the byte at offset 13 of the TCP header: its flags
    (0x45, 0, 1, 0x02),  # SYN set? then the next instruction, else skip it
    (0x06, 0, 0, 0),  # return 0: drop the segment
    (0x06, 0, 0, 0xFFFFFFFF),  # return all of it: keep the segment
]


def refuse_new_connections(listener: socket.socket) -> None:
    """Let the kernel complete no new connection on this socket (Linux; elsewhere, nothing:
    the drain then only narrows the window in which a new connection is reset)."""
    if not sys.platform.startswith("linux"):
        return
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in _DROP_SYN)
    program = ctypes.create_string_buffer(code, len(code))
    # struct sock_fprog: the number of instructions and their address.
    listener.setsockopt(
        socket.SOL_SOCKET,
        SO_ATTACH_FILTER,
        struct.pack("HP", len(_DROP_SYN), ctypes.addressof(program)),
    )


class StoppingServer(uvicorn.Server):
    """uvicorn's server, which empties its socket's backlog before it stops accepting."""

    def __init__(
        self, config: uvicorn.Config, listener: socket.socket, on_stop: Callable[[], None]
    ) -> None:
        super().__init__(config)
        self.listener, self.on_stop, self.stopping = listener, on_stop, False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.stopping:  # a second signal: uvicorn's own way (Ctrl-C twice forces)
            super().handle_exit(sig, frame)
            return
        self.stopping = True
        self.on_stop()
        refuse_new_connections(self.listener)
        drained = threading.Timer(DRAIN_SECONDS, super().handle_exit, (sig, frame))
        drained.daemon = True
        drained.start()


class CloseWhenStopping:
    """ASGI middleware: while the server stops, each answer asks the client to close."""

    def __init__(self, app: ASGIApp, stopping: Callable[[], bool]) -> None:
        self.app, self.stopping = app, stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.stopping():
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"connection", b"close")],
                }
            await send(message)

        await self.app(scope, receive, send_closing if scope["type"] == "http" else send)
