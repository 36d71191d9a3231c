"""The local AWS the benchmarks run against: one localaws subprocess (so the emulator does not share the GIL with
the code under test) and the world of `localaws.world` acting on it (the people who set up keys, X-Ray settings
and the alert topic). Nothing here writes the process environment: code under test gets an env mapping.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from chalicelib.service import Responder
from chalicelib.sessions import ClientFactory
from chalicelib.settings import Settings
from localaws import LocalAWSClient, start_subprocess
from localaws.world import (
    APPROVED_ALIAS,
    CENTRAL,
    MEMBER,
    MEMBER_REGION,
    REGIONS,
    LocalWorld,
    load_event,
    offline_env,
    topic_arn,
)

__all__ = ["APPROVED_ALIAS", "CENTRAL", "MEMBER", "MEMBER_REGION", "REGIONS", "load_event", "offline_env"]

ROOT = Path(__file__).resolve().parent.parent
TOPIC_ARN = topic_arn()


def guard_env(**overrides: str) -> dict[str, str]:
    """xray-guard's own variables, as .chalice/config.json sets them, plus overrides (e.g. XRAY_GUARD_MODE)."""
    return {"XRAY_GUARD_KMS_KEY": APPROVED_ALIAS, "XRAY_GUARD_TOPIC_ARN": TOPIC_ARN, **overrides}


class LocalAWSProcess:
    """`python -m localaws` in a subprocess; `control` drives its call log, reset and faults over HTTP, and
    `world` acts in it as the people of the story do."""

    def __init__(self) -> None:
        self._process, self.url = start_subprocess(latency_ms=0, updating_seconds=0)
        self.control = LocalAWSClient(self.url, timeout=120)
        self.world = LocalWorld(self.control)

    def env(self, **extra: str) -> dict[str, str]:
        """The standard variables that point boto3 (an env mapping, or a child process) at this localaws."""
        return self.world.env(**extra)

    def reset(self) -> None:
        """An empty emulator (and the world forgets the member accounts' credentials with it)."""
        self.world.reset()

    def cpu_seconds(self) -> float:
        """CPU time the emulator has used so far (user + system, from /proc), to see whether it keeps up."""
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def call_count(self) -> int:
        return len(self.control.calls())

    def calls_since(self, start: int) -> list[str]:
        """ "service:Operation" of every call logged after the first `start` calls."""
        return [f"{c['service']}:{c['operation']}" for c in self.control.calls()[start:]]

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> LocalAWSProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class SteppedClock:
    """Monotonic time that can be moved forward, to stand for the time between two Lambda invocations without
    waiting for it (the responder's TTLs read this clock; its sleeps stay real)."""

    def __init__(self) -> None:
        self._offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its AWS variables (a profile or session token of the machine's user
    must not leak in), plus `extra`, with the checkout importable (for `python -c` / `-m` children)."""
    env = {**{var: value for var, value in os.environ.items() if not var.startswith("AWS_")}, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


COMPLIANT_EVENT = "iac-sets-approved-key.json"


def warm_responder(aws: LocalAWSProcess, clock: SteppedClock) -> Responder:
    """A fresh local AWS where the member region is compliant and the alert topic exists, and a revert-mode
    responder wired as `chalicelib.runtime.build` wires it (but on `clock`), warmed by one compliant invocation:
    its assumed-role credentials and the approved key's ARN are cached, as in a reused Lambda container."""
    aws.reset()
    world = aws.world
    world.create_topic()
    world.create_key(MEMBER, MEMBER_REGION)
    world.put(MEMBER, MEMBER_REGION, Type="KMS", KeyId=APPROVED_ALIAS)
    settings = Settings.from_env(guard_env(XRAY_GUARD_MODE="revert"))
    clients = ClientFactory(
        settings.member_role, base=world.code_session(), members=world.code_member_session(), home_account=CENTRAL
    )
    responder = Responder(settings, clients, clock=clock.monotonic)
    responder.on_event(load_event(COMPLIANT_EVENT))
    return responder
