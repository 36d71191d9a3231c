"""localaws in this process without a socket: botocore hands each prepared request to the WSGI app directly.

botocore emits ``before-send`` with the signed, serialised request just before it would send it over HTTP, and
uses the first response a handler returns instead of sending (botocore/endpoint.py `_do_get_response`; moto's
in-process mode, ``moto.core.botocore_stubber``, works the same way). Here the handler runs the request through
the very app the localaws server serves (werkzeug's test utilities build the WSGI environ and run it), so
everything from serialising and signing to parsing the response and retrying is botocore's own, and only the
socket and the server's thread per connection are skipped: about half the CPU of a call made over HTTP in one
process (the client and the server both run under this process's one interpreter lock).

What differs from the HTTP path: an exception the app raises reaches the caller as itself, at the first attempt
(over HTTP werkzeug's server answers 500, which botocore's standard retries retry before raising a ClientError),
so an emulator bug fails a test loudly instead of reading as an AWS error; the client's connect and read timeouts
never fire (a latency fault longer than the read timeout only delays); a HEAD response would keep the body the app
wrote (an HTTP client reads none), and no service the project calls has a HEAD operation (botocore models). Status,
bodies and headers are otherwise the same, errors included, but for the Date and Connection headers the HTTP server
adds (botocore reads Date only for the ttl of a retry's amz-sdk-request header: botocore/endpoint.py `_set_ttl`).

The tests' world connects the sessions code under test builds clients from (``LocalWorld``); the HTTP server is
still what the demo, the benchmarks, the AWS CLI tests and every client built from the environment
(``AWS_ENDPOINT_URL``) reach.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import botocore.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from werkzeug.test import EnvironBuilder, run_wsgi_app

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication


def connect(session: botocore.session.Session, app: WSGIApplication) -> botocore.session.Session:
    """Send every request of the session's clients (built from now on) to `app` in this process."""
    handler: Any = partial(_send, app)  # botocore's stubs type event handlers as returning None; this one answers
    session.register("before-send", handler)
    return session


class _Body(io.BytesIO):
    """A response body as botocore reads one (urllib3's `stream()`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        while chunk := self.read(64 * 1024):
            yield chunk


def _send(app: WSGIApplication, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
    url = urlsplit(request.url)
    body: Any = request.body
    if body is not None and not isinstance(body, bytes | bytearray | str):
        body = body.read()  # a streaming body (file-like): botocore rewinds it itself on a retry
    environ = EnvironBuilder(
        method=request.method,
        base_url=f"{url.scheme}://{url.netloc}",
        path=url.path,
        query_string=url.query,
        headers=[(name, _text(value)) for name, value in request.headers.items()],
        data=body or b"",
    ).get_environ()
    app_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    # Case-insensitive, as urllib3's headers are: botocore looks some up in lower case (x-amzn-errortype, ...).
    code = int(status.split(" ", 1)[0])
    return AWSResponse(request.url, code, HTTPHeaders.from_pairs(list(headers.items())), _Body(content))


def _text(value: str | bytes) -> str:
    # botocore keeps some header values as bytes (X-Amz-Target, the signature's), as it writes them to the wire.
    return value.decode() if isinstance(value, bytes) else value
