"""Configuration: one pydantic model built once (at cold start) from an environment mapping.

A bad or missing value raises ConfigError naming the variable and what is allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.errors import ConfigError

# Key references X-Ray accepts (API_PutEncryptionConfig: "key ID, key ARN, alias name, or alias ARN").
_KEY_REF = re.compile(
    r"^(alias/[A-Za-z0-9/_-]{1,250}"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|mrk-[0-9a-f]{32}"
    r"|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+)$"
)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")

# Environment variable → field name. The README's configuration table lists the same variables.
ENV_VARS: dict[str, str] = {
    "XRAY_GUARD_MODE": "mode",
    "XRAY_GUARD_KMS_KEY": "kms_key",
    "XRAY_GUARD_KMS_KEYS": "kms_keys",
    "XRAY_GUARD_TOPIC_ARN": "topic_arn",
    "XRAY_GUARD_MEMBER_ROLE": "member_role",
    "XRAY_GUARD_EXEMPT_PRINCIPALS": "exempt_principals",
    "XRAY_GUARD_REQUIRE_CMK": "require_cmk",
    "XRAY_GUARD_ACCOUNTS": "accounts",
    "XRAY_GUARD_REGIONS": "regions",
    "XRAY_GUARD_SWEEP_QUEUE_URL": "sweep_queue_url",
    "XRAY_GUARD_ACTIVATION_TIMEOUT": "activation_timeout_seconds",
    "XRAY_GUARD_FAILURE_QUEUE_URL": "failure_queue_url",
    "XRAY_GUARD_SWEEP_TABLE": "sweep_table",
}
_FIELD_TO_ENV = {field: env for env, field in ENV_VARS.items()}


class Mode(StrEnum):
    ALERT = "alert"
    REVERT = "revert"


KeyRef = Annotated[str, Field(pattern=_KEY_REF.pattern)]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseModel):
    """Validated configuration of one deployment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = Mode.ALERT
    kms_key: KeyRef
    kms_keys: dict[str, KeyRef] = Field(default_factory=dict)
    topic_arn: str | None = Field(default=None, pattern=_TOPIC_ARN.pattern)
    member_role: str = Field(default="XRayGuardMember", pattern=_ROLE_NAME.pattern)
    exempt_principals: tuple[str, ...] = ()
    require_cmk: bool = True
    accounts: str = "org"
    regions: tuple[str, ...] = ()
    sweep_queue_url: str | None = None
    activation_timeout_seconds: float = Field(default=120.0, gt=0, le=840)
    failure_queue_url: str | None = None
    sweep_table: str | None = None

    @field_validator("kms_keys", mode="before")
    @classmethod
    def _parse_json_object(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                raise ValueError(f"not valid JSON ({e.msg})") from e
            if not isinstance(value, dict):
                raise ValueError('must be a JSON object of region to key, e.g. {"eu-west-1": "alias/x"}')
        return value

    @field_validator("kms_keys")
    @classmethod
    def _regions_are_regions(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [region for region in value if not _REGION.match(region)]
        if bad:
            raise ValueError(f"keys must be region names like eu-west-1, got {bad}")
        return value

    @field_validator("exempt_principals", "regions", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("exempt_principals")
    @classmethod
    def _arn_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in value if not p.startswith("arn:")]
        if bad:
            raise ValueError(f"each entry must be an ARN pattern starting with 'arn:' (got {bad})")
        return value

    @field_validator("regions")
    @classmethod
    def _region_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in value if r != "all" and not _REGION.match(r)]
        if bad:
            raise ValueError(f"must be 'all' or region names like eu-west-1, got {bad}")
        return tuple(r for r in value if r != "all")

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: str) -> str:
        value = value.strip()
        if value == "org":
            return value
        ids = [a.strip() for a in value.split(",") if a.strip()]
        if not ids or not all(_ACCOUNT.match(a) for a in ids):
            raise ValueError("must be 'org' or a comma-separated list of 12-digit account ids")
        return ",".join(ids)

    def approved_key_ref(self, region: str) -> str:
        """The configured key reference (alias, id or ARN) for a region."""
        return self.kms_keys.get(region, self.kms_key)

    @property
    def topic_region(self) -> str:
        if self.topic_arn is None:
            raise ConfigError("XRAY_GUARD_TOPIC_ARN: is required to send alerts (allowed: an SNS topic ARN)")
        return self.topic_arn.split(":")[3]

    @property
    def account_list(self) -> tuple[str, ...] | None:
        """Explicit accounts to sweep, or None for the whole organization."""
        return None if self.accounts == "org" else tuple(self.accounts.split(","))

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, required: tuple[str, ...] = ("XRAY_GUARD_TOPIC_ARN",)) -> Settings:
        """Build settings from environment variables; raise ConfigError naming each bad variable.

        `required` names variables that must be set for this entry point (the Lambda needs the topic;
        the audit command does not).
        """
        raw = {field: env[var] for var, field in ENV_VARS.items() if env.get(var, "") != ""}
        missing = [var for var in required if env.get(var, "") == ""]
        if missing:
            raise ConfigError("invalid xray-guard configuration: " + "; ".join(f"{v}: is required" for v in missing))
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            problems = []
            for err in e.errors():
                field = str(err["loc"][0]) if err["loc"] else "?"
                var = _FIELD_TO_ENV.get(field, field)
                problems.append(f"{var}: {_explain(field, err['msg'])}")
            raise ConfigError("invalid xray-guard configuration: " + "; ".join(problems)) from e


def _explain(field: str, msg: str) -> str:
    allowed = {
        "mode": "allowed: alert, revert",
        "kms_key": "allowed: alias/NAME, a key id, or a key/alias ARN",
        "topic_arn": "allowed: an SNS topic ARN",
        "member_role": "allowed: an IAM role name",
        "require_cmk": "allowed: true, false",
    }
    if msg == "Field required":
        msg = "is required"
    hint = allowed.get(field)
    return f"{msg} ({hint})" if hint else msg
