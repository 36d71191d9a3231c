"""Serving localaws: the threaded werkzeug server, and ``LocalAWS``, which runs one in a background thread.

moto keeps its state in module globals, so every localaws server in one process shares moto's state (and
``reset`` resets it for all of them); X-Ray state, the call log and faults belong to each server.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Unpack

from werkzeug.serving import ThreadedWSGIServer

from localaws import moto_bridge
from localaws.calls import CallEntry
from localaws.faults import FaultChanges, FaultSettings, fault_changes
from localaws.middleware import LocalAWSApp

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication


class _Server(ThreadedWSGIServer):
    # One thread per connection; a deep accept queue, so a burst of a few hundred clients waits, not fails.
    request_queue_size = 1024


def make_server(app: WSGIApplication, host: str = "127.0.0.1", port: int = 0) -> ThreadedWSGIServer:
    """A threaded server bound to ``host:port`` (port 0 picks a free one; see ``server.server_port``)."""
    server: ThreadedWSGIServer = _Server(host, port, app, handler=moto_bridge.QuietRequestHandler)
    return server


def url_of(server: ThreadedWSGIServer) -> str:
    host = str(server.server_address[0])
    return f"http://[{host}]:{server.server_port}" if ":" in host else f"http://{host}:{server.server_port}"


class LocalAWS:
    """localaws in a background thread of this process, for tests, the demo and benchmarks.

    >>> with LocalAWS(updating_seconds=0.05) as aws:  # doctest: +SKIP
    ...     boto3.client("xray", endpoint_url=aws.endpoint_url, ...)
    """

    def __init__(
        self,
        *,
        updating_seconds: float = 1.0,
        latency_ms: float = 0.0,
        throttle_rate: float = 0.0,
        fail: Iterable[str] = (),
        seed: int = 0,
        no_transaction_search: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = FaultSettings.create(
            latency_ms=latency_ms,
            throttle_rate=throttle_rate,
            updating_seconds=updating_seconds,
            fail=fail,
            seed=seed,
            no_transaction_search=no_transaction_search,
        )
        self.app = LocalAWSApp(settings, clock=clock)
        self._host = host
        self._port = port
        self._server: ThreadedWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalAWS is not running: use it as a context manager or call start()")
        return url_of(self._server)

    def start(self) -> LocalAWS:
        if self._server is None:
            self._server = make_server(self.app, self._host, self._port)
            self._thread = threading.Thread(target=self._server.serve_forever, name="localaws", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._server = None
            self._thread = None

    def __enter__(self) -> LocalAWS:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def calls(self) -> list[CallEntry]:
        """Every AWS call so far, oldest first (as ``GET /_localaws/calls``)."""
        return self.app.calls.entries()

    def published(self, topic_arn: str) -> list[dict[str, str | None]]:
        """Messages SNS accepted for the topic, oldest first (as ``GET /_localaws/published?topic=ARN``)."""
        return [dataclasses.asdict(sent) for sent in moto_bridge.published(topic_arn)]

    def reset(self) -> None:
        """moto, emulated state, call log and faults as when the server started (``POST /_localaws/reset``)."""
        self.app.reset()

    def set_faults(self, **changes: Unpack[FaultChanges]) -> dict[str, object]:
        """Replace the given fault settings, keep the rest (``POST /_localaws/faults``); returns them all."""
        return self.app.faults.update(fault_changes(**changes)).to_json()
