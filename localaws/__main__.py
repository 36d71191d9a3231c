"""``python -m localaws``: serve localaws until SIGINT/SIGTERM.

Prints exactly one line, ``localaws listening on http://HOST:PORT``, once the port is bound, so that a parent
process can read the URL (``--port 0`` picks a free port). Fault options default to ``LOCALAWS_*`` variables.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType

from localaws.client import READY_PREFIX
from localaws.faults import FailRule, FaultSettings
from localaws.middleware import LocalAWSApp
from localaws.server import make_server, url_of


def parse_settings(argv: Sequence[str], env: Mapping[str, str]) -> tuple[argparse.Namespace, FaultSettings]:
    defaults = FaultSettings.from_env(env)
    parser = argparse.ArgumentParser(prog="python -m localaws", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default 0)")
    parser.add_argument(
        "--latency-ms", type=float, default=defaults.latency_ms, help="sleep this long on every AWS call"
    )
    parser.add_argument(
        "--throttle-rate",
        type=float,
        default=defaults.throttle_rate,
        help="fraction of X-Ray and KMS calls throttled",
    )
    parser.add_argument(
        "--updating-seconds",
        type=float,
        default=defaults.updating_seconds,
        help="how long a PutEncryptionConfig stays UPDATING (default 1.0)",
    )
    parser.add_argument(
        "--fail",
        action="append",
        type=FailRule.parse,
        default=None,
        metavar="SPEC",
        help="service:Operation[@account][=ErrorCode]; repeatable",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the throttling random (default 0)")
    parser.add_argument(
        "--no-transaction-search",
        action="append",
        default=None,
        metavar="REGION",
        help="a region without CloudWatch Transaction Search (X-Ray trace segment destination); repeatable",
    )
    args = parser.parse_args(argv)
    try:
        settings = FaultSettings.create(
            latency_ms=args.latency_ms,
            throttle_rate=args.throttle_rate,
            updating_seconds=args.updating_seconds,
            fail=defaults.fail if args.fail is None else args.fail,
            seed=args.seed,
            no_transaction_search=(
                defaults.no_transaction_search if args.no_transaction_search is None else args.no_transaction_search
            ),
        )
    except ValueError as error:
        parser.error(str(error))
    return args, settings


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    try:
        args, settings = parse_settings(sys.argv[1:] if argv is None else argv, os.environ if env is None else env)
    except ValueError as error:  # a bad LOCALAWS_* variable
        print(f"localaws: {error}", file=sys.stderr)
        return 2
    server = make_server(LocalAWSApp(settings), args.host, args.port)
    print(f"{READY_PREFIX}{url_of(server)}", flush=True)
    # Nothing else goes to stdout: a parent reads one line and may never drain the pipe again.
    sys.stdout = sys.stderr
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
