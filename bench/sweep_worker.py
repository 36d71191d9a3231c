"""One emulated Lambda container of the sweep, run in a worker process of `bench.sweep`.

Like a `sweep_account` container, a worker builds the runtime once (`chalicelib.runtime.build`) and then handles
one account per message as `Sweeper.sweep_account` does: a posture book for the invocation, the real
`check_account` (every region on its 17-thread pool), the account's clients released, the findings sent to the
destinations other than SNS; not the central table's fan-in (no table here) nor the digest. Kept apart from
`bench.sweep` so that a spawned worker imports xray-guard only, not the emulator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier

from chalicelib.keyguard import posture_book
from chalicelib.runtime import Runtime, build
from chalicelib.sessions import session_from_env
from chalicelib.sweep import check_account

_container: dict[str, Runtime] = {}


@dataclass(frozen=True)
class AccountResult:
    account: str
    seconds: float  # wall time of check_account
    cpu_seconds: float  # CPU this worker process spent on it (all its threads)
    verdicts: tuple[str, ...]


def start(env: dict[str, str], home_account: str, ready: Barrier) -> None:
    """Pool initializer: the container's cold start (its environment is `env`, AWS variables included), then
    wait until every worker is ready."""
    _container["runtime"] = build(env, home_account, session_from_env(env))
    ready.wait()


def check(account: str) -> AccountResult:
    responder = _container["runtime"].responder
    began, cpu = time.perf_counter(), time.process_time()
    book = posture_book(responder, fix_rotation=responder.settings.fix_key_rotation, foreign_keys=False)
    try:
        findings = check_account(responder, account, posture=book)
    finally:
        responder.clients.release(account)
    responder.send_sweep_findings(findings)
    return AccountResult(
        account,
        time.perf_counter() - began,
        time.process_time() - cpu,
        tuple(sorted(f.verdict.value for f in findings)),
    )
