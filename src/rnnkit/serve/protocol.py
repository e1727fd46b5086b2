"""The HTTP protocol ``rnnkit serve`` runs: uvicorn's h11 protocol, except that a request it
cannot parse (a bad chunked body, a malformed header) gets the API's JSON error, as every other
error does, instead of uvicorn's plain text."""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: what the client is told; h11 knows more, but the details are the server log's
MESSAGE = "invalid HTTP request: its request line, headers or chunked body cannot be parsed"


class JsonErrorProtocol(H11Protocol):
    """:class:`H11Protocol` whose 400 for an unparsable request is ``{"error": "..."}``."""

    def send_400_response(self, msg: str) -> None:
        if self.cycle is not None and self.cycle.response_started:  # too late to answer
            self.transport.close()
            return
        body = json.dumps({"error": MESSAGE}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
