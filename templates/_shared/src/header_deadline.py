"""A deadline for a request's headers: a client that trickles header lines (or opens a connection
and sends nothing) holds it for --timeout seconds at most, then gets 408 and is disconnected.

uvicorn bounds only the idle time between requests (timeout_keep_alive), and any byte received
resets it; ASGI middleware sees a request only once its headers are complete. So the deadline
lives in the HTTP protocol: uvicorn's httptools one, its fastest (the C parser llhttp). It starts
when a connection opens, or with the first byte of the next request on a kept-alive one, and it
is not reset by later bytes; it ends once the headers are in (the body has its own deadline:
routes.py).
"""

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol, which closes a connection whose headers come too slowly."""

    seconds = 10.0  # with_header_deadline() sets it
    _deadline: asyncio.TimerHandle | None = None
    _begun = False  # a request's first bytes are in, its headers not yet

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun = True
        self._arm()

    def on_headers_complete(self) -> None:
        self._begun = False
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.seconds, self._late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._begun:  # part of a request came: say why it ends
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
