"""The door: a bearer token on every path but ``/health``, and a cap on request bodies.

Pure ASGI, so it runs before any body is read or any route is chosen: a refused
request costs nothing and never reaches a model.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1_000_000
OPEN_PATHS = ("/health",)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (a name is resolved to every address it has)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


async def _refuse(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    def __init__(self, app: ASGIApp, token: str | None, max_body: int = MAX_BODY_BYTES) -> None:
        self.app, self.token, self.max_body = app, token, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token and scope["path"] not in OPEN_PATHS and not self._authorised(scope):
            await _refuse(send, 401, "Authorization: send the server's token as `Authorization: Bearer TOKEN`",
                          [(b"www-authenticate", b"Bearer")])
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _refuse(send, 413, f"body: over {self.max_body:,} bytes; send less text per request")
            return
        await self._counted(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        given = header[7:] if header[:7].lower() == "bearer " else ""
        if not given and scope["path"] == "/":  # the page itself, opened from a link with ?token=
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode())

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A chunked body (no Content-Length) is counted as it arrives: past the limit the client
        gets the 413, and the app sees a disconnect and whatever it answers is dropped."""
        seen, started, refused = 0, False, False

        async def counting_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body and not refused:
                    refused = True
                    if not started:
                        await _refuse(send, 413, f"body: over {self.max_body:,} bytes; send less text per request")
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, tracking_send)
