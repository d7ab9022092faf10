"""A deadline for a request's headers: a client that trickles header lines (or opens a connection
and sends nothing) holds it for --timeout seconds at most, then gets 408 and is disconnected.

uvicorn bounds only the idle time between requests (timeout_keep_alive), and any byte received
resets it; ASGI middleware sees a request only once its headers are complete. So the deadline
lives in the HTTP protocol: h11's, which uvicorn runs when httptools is not installed (serve
names it, so the deadline holds either way). It starts when a connection opens, or with the
first byte of the next request on a kept-alive one, and it is not reset by later bytes; it ends
once the headers are in (the body has its own deadline: routes.py).
"""

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, which closes a connection whose headers come too slowly."""

    seconds = 10.0  # with_header_deadline() sets it
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Arm the deadline while the next request's headers are awaited and no keep-alive
        timer runs (an idle kept-alive connection is uvicorn's to close); else disarm it."""
        awaited = (
            self.conn.their_state is h11.IDLE
            and self.timeout_keep_alive_task is None
            and not self.transport.is_closing()
        )
        if not awaited:
            self._disarm()
        elif self._deadline is None:
            self._deadline = self.loop.call_later(self.seconds, self._late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        if self.conn.trailing_data[0]:  # part of a request came: say why it ends
            body = json.dumps(
                {
                    "error": (
                        f"The request's headers did not arrive within "
                        f"{self.seconds:g} s (--timeout)."
                    )
                }
            ).encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: "
                b"application/json\r\nconnection: close\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
        self.transport.close()


def with_header_deadline(seconds: float) -> type[HeaderDeadline]:
    """The protocol class to give uvicorn.Config(http=...): headers within seconds."""
    return type("HeaderDeadline", (HeaderDeadline,), {"seconds": seconds})
