"""Injected faults: latency, throttling, stuck X-Ray updates, named operations that fail and regions without
CloudWatch Transaction Search.

``FaultSettings`` is the value (from CLI options, ``LOCALAWS_*`` variables, the Python API or
``POST /_localaws/faults``); ``FaultInjector`` applies it to requests, with a seeded random so that a run is
reproducible.
"""

from __future__ import annotations

import dataclasses
import random
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypedDict, Unpack

from localaws.protocol import AwsRequest, error_status

# The service's real throttling error, for the services whose calls --throttle-rate throttles.
THROTTLING_ERRORS: Mapping[str, tuple[str, int]] = {
    # botocore data/xray/2016-04-12/service-2.json, shape ThrottledException: error.httpStatusCode 429.
    "xray": ("ThrottledException", 429),
    # The kms model has no throttling shape; KMS answers "ThrottlingException" with HTTP 400 as a json
    # "__type" (https://docs.aws.amazon.com/kms/latest/developerguide/throttling.html), and botocore's
    # standard retry mode classifies it as throttling (botocore/retries/standard.py,
    # ThrottledRetryableChecker._THROTTLED_ERROR_CODES; botocore/data/_retry.json "throttling_exception").
    "kms": ("ThrottlingException", 400),
}

# What a --fail rule without "=ErrorCode" answers, per service.
DEFAULT_FAILURES: Mapping[str, tuple[str, int]] = {
    # botocore data/sns/2010-03-31/service-2.json, AuthorizationErrorException: code AuthorizationError, 403.
    "sns": ("AuthorizationError", 403),
    # Not in botocore's sts model: real STS refuses AssumeRole with <Code>AccessDenied</Code> and HTTP 403
    # ("User: ... is not authorized to perform: sts:AssumeRole on resource: ...").
    "sts": ("AccessDenied", 403),
    # Not in botocore's kms model; KMS's common errors list AccessDeniedException, which KMS sends with 400
    # (https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html). Unsure of the status: the
    # common-errors pages of different services disagree between 400 and 403.
    "kms": ("AccessDeniedException", 400),
    # Not in botocore's xray model (PutEncryptionConfig models only InvalidRequestException and
    # ThrottledException); AccessDeniedException 403 per https://docs.aws.amazon.com/xray/latest/api/CommonErrors.html.
    "xray": ("AccessDeniedException", 403),
}

# For other services, by the wire protocol of the request (the common "access denied" of each family).
_FAILURES_BY_PROTOCOL: Mapping[str, tuple[str, int]] = {
    "query": ("AccessDenied", 403),
    "ec2": ("UnauthorizedOperation", 403),
    "json": ("AccessDeniedException", 400),
    "rest-json": ("AccessDeniedException", 403),
    "rest-xml": ("AccessDenied", 403),
}

# Statuses for common codes that service models do not list (used when a rule names its own code).
_UNMODELED_STATUS: Mapping[str, int] = {
    "AccessDenied": 403,
    "AccessDeniedException": 403,
    "UnauthorizedOperation": 403,
    "ThrottlingException": 400,
    "Throttling": 400,
}

# An AWS region name (us-east-1, us-gov-west-1, eu-central-2, ...), to catch typos in region switches.
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")

_RULE = re.compile(
    r"^(?P<service>[a-z0-9-]+):(?P<operation>[A-Za-z0-9]+)(?:@(?P<account>\d{12}))?(?:=(?P<code>[\w.]+))?$"
)


@dataclass(frozen=True)
class FailRule:
    """``service:Operation[@account][=ErrorCode]``: make an operation fail, optionally for one account."""

    service: str
    operation: str
    account: str | None = None
    error_code: str | None = None

    @classmethod
    def parse(cls, spec: str) -> FailRule:
        match = _RULE.match(spec.strip())
        if match is None:
            raise ValueError(f"bad fail spec {spec!r}: expected service:Operation[@account][=ErrorCode]")
        return cls(match["service"], match["operation"], match["account"], match["code"])

    def __str__(self) -> str:
        account = f"@{self.account}" if self.account else ""
        code = f"={self.error_code}" if self.error_code else ""
        return f"{self.service}:{self.operation}{account}{code}"

    def matches(self, request: AwsRequest, caller_account: str) -> bool:
        if (request.service, request.operation) != (self.service, self.operation):
            return False
        return self.account is None or self.account == _account_entered(request, caller_account)

    def error(self, request: AwsRequest) -> tuple[str, int]:
        """The error code and HTTP status this rule answers the request with."""
        default_code, default_status = DEFAULT_FAILURES.get(request.service) or _FAILURES_BY_PROTOCOL.get(
            request.protocol, ("AccessDeniedException", 400)
        )
        code = self.error_code or default_code
        if code == default_code:
            return code, default_status
        return code, error_status(request.service, code, default=_UNMODELED_STATUS.get(code, 400))


def _account_entered(request: AwsRequest, caller_account: str) -> str:
    """For sts:AssumeRole* the account being entered (from RoleArn); for everything else the caller's."""
    role_arn = request.param("RoleArn") if request.service == "sts" else None
    if role_arn:
        parts = role_arn.split(":")
        if len(parts) > 4 and parts[4]:
            return parts[4]
    return caller_account


@dataclass(frozen=True)
class FaultSettings:
    """The faults in force. Runtime changes (``FaultSettings.replace``) may not touch ``seed``.

    ``no_transaction_search`` lists the regions where X-Ray's trace segment destination operations do not exist
    (as in AWS GovCloud, where "Transaction Search is not available"), see ``localaws.transaction_search``.
    """

    latency_ms: float = 0.0
    throttle_rate: float = 0.0
    updating_seconds: float = 1.0
    fail: tuple[FailRule, ...] = ()
    seed: int = 0
    no_transaction_search: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if not 0.0 <= self.throttle_rate <= 1.0:
            raise ValueError(f"throttle_rate must be between 0 and 1, got {self.throttle_rate}")
        if self.updating_seconds < 0:
            raise ValueError(f"updating_seconds must be >= 0, got {self.updating_seconds}")
        bad_regions = [region for region in self.no_transaction_search if not _REGION.match(region)]
        if bad_regions:
            raise ValueError(f"no_transaction_search must list region names such as us-gov-west-1, got {bad_regions}")

    @classmethod
    def create(
        cls,
        *,
        latency_ms: float = 0.0,
        throttle_rate: float = 0.0,
        updating_seconds: float = 1.0,
        fail: Iterable[str | FailRule] = (),
        seed: int = 0,
        no_transaction_search: Iterable[str] = (),
    ) -> FaultSettings:
        rules = tuple(rule if isinstance(rule, FailRule) else FailRule.parse(rule) for rule in fail)
        regions = _regions(no_transaction_search)
        return cls(float(latency_ms), float(throttle_rate), float(updating_seconds), rules, int(seed), regions)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FaultSettings:
        """Settings from ``LOCALAWS_*`` variables; a bad value names its variable."""

        def number(name: str, default: float) -> float:
            try:
                return float(env[name]) if env.get(name) else default
            except ValueError:
                raise ValueError(f"{name} must be a number, got {env[name]!r}") from None

        try:
            seed = int(env.get("LOCALAWS_SEED") or 0)
        except ValueError:
            raise ValueError(f"LOCALAWS_SEED must be an integer, got {env['LOCALAWS_SEED']!r}") from None
        try:
            return cls.create(
                latency_ms=number("LOCALAWS_LATENCY_MS", 0.0),
                throttle_rate=number("LOCALAWS_THROTTLE_RATE", 0.0),
                updating_seconds=number("LOCALAWS_UPDATING_SECONDS", 1.0),
                fail=_split(env.get("LOCALAWS_FAIL")),
                seed=seed,
                no_transaction_search=_split(env.get("LOCALAWS_NO_TRANSACTION_SEARCH")),
            )
        except ValueError as error:
            raise ValueError(f"LOCALAWS_* settings: {error}") from None

    def replace(self, changes: Mapping[str, object]) -> FaultSettings:
        """These settings with the given JSON fields replaced (``latency_ms``, ``throttle_rate``,
        ``updating_seconds``, ``fail``, ``no_transaction_search``); fields not given stay."""
        unknown = set(changes) - {"latency_ms", "throttle_rate", "updating_seconds", "fail", "no_transaction_search"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        updated: dict[str, object] = {}
        for name in ("latency_ms", "throttle_rate", "updating_seconds"):
            if name in changes:
                value = changes[name]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{name} must be a number, got {value!r}")
                updated[name] = float(value)
        if "fail" in changes:
            specs = changes["fail"]
            if not isinstance(specs, list | tuple) or not all(isinstance(spec, str) for spec in specs):
                raise ValueError(f"fail must be a list of strings, got {specs!r}")
            updated["fail"] = tuple(FailRule.parse(spec) for spec in specs)
        if "no_transaction_search" in changes:
            regions = changes["no_transaction_search"]
            if not isinstance(regions, list | tuple) or not all(isinstance(region, str) for region in regions):
                raise ValueError(f"no_transaction_search must be a list of region names, got {regions!r}")
            updated["no_transaction_search"] = _regions(regions)
        return dataclasses.replace(self, **updated)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return {
            "latency_ms": self.latency_ms,
            "throttle_rate": self.throttle_rate,
            "updating_seconds": self.updating_seconds,
            "fail": [str(rule) for rule in self.fail],
            "seed": self.seed,
            "no_transaction_search": list(self.no_transaction_search),
        }


def _split(value: str | None) -> list[str]:
    """A comma- or space-separated ``LOCALAWS_*`` list."""
    return re.split(r"[,\s]+", value.strip()) if value and value.strip() else []


def _regions(regions: Iterable[str]) -> tuple[str, ...]:
    """Region names, each once, in the order given."""
    return tuple(dict.fromkeys(region.strip() for region in regions))


class FaultChanges(TypedDict, total=False):
    """What ``set_faults`` may change (None or left out: leave as is); ``FaultSettings`` says what each means."""

    latency_ms: float | None
    throttle_rate: float | None
    updating_seconds: float | None
    fail: Iterable[str] | None
    no_transaction_search: Iterable[str] | None


def fault_changes(**changes: Unpack[FaultChanges]) -> dict[str, object]:
    """The JSON body of ``POST /_localaws/faults`` for the given keyword arguments (None = leave as is)."""
    body: dict[str, object] = {name: value for name, value in changes.items() if value is not None}
    fail, no_transaction_search = changes.get("fail"), changes.get("no_transaction_search")
    if fail is not None:  # iterables (a generator, a tuple) as JSON lists
        body["fail"] = list(fail)
    if no_transaction_search is not None:
        body["no_transaction_search"] = list(no_transaction_search)
    return body


class FaultInjector:
    """Holds the settings in force and decides, per request, whether to throttle or fail it."""

    def __init__(self, initial: FaultSettings) -> None:
        self._initial = initial
        self._settings = initial
        self._random = random.Random(initial.seed)  # noqa: S311 - reproducible fault injection, not security
        self._lock = threading.Lock()

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def update(self, changes: Mapping[str, object]) -> FaultSettings:
        with self._lock:
            self._settings = self._settings.replace(changes)
            return self._settings

    def reset(self) -> None:
        """Back to the settings the server started with, random sequence restarted."""
        with self._lock:
            self._settings = self._initial
            self._random.seed(self._initial.seed)

    def throttles(self, request: AwsRequest) -> tuple[str, int] | None:
        """The throttling error to answer with, if this call is one of the throttled fraction."""
        error = THROTTLING_ERRORS.get(request.service)
        with self._lock:
            rate = self._settings.throttle_rate
            # Draw only for throttleable calls, so other traffic does not shift the sequence.
            if error is None or rate <= 0.0 or self._random.random() >= rate:
                return None
        return error

    def lacks_transaction_search(self, region: str) -> bool:
        """True when the region is switched to have no CloudWatch Transaction Search."""
        return region in self._settings.no_transaction_search

    def failure(self, request: AwsRequest, caller_account: str) -> tuple[str, int] | None:
        """The error code and status to fail this call with, if a fail rule matches it."""
        for rule in self._settings.fail:
            if rule.matches(request, caller_account):
                return rule.error(request)
        return None
