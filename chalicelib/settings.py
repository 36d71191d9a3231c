"""Configuration: one pydantic model built once (at cold start) from an environment mapping.

Each field reads the variable `XRAY_GUARD_<FIELD NAME>` unless it names another (`validation_alias`), so the model is
the one list of variables: a bad or missing value raises ConfigError naming the variable and what is allowed, and a
variable the model does not know (a typo) fails the load naming the closest known one.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import AfterValidator, AliasGenerator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.domain import Arn, Mode, SinkName
from chalicelib.errors import ConfigError

# Key references X-Ray accepts (API_PutEncryptionConfig: "key ID, key ARN, alias name, or alias ARN").
_KEY_REF = re.compile(
    r"^(alias/[A-Za-z0-9/_-]{1,250}"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|mrk-[0-9a-f]{32}"
    r"|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+)$"
)
# KMS reserves alias/aws/ for AWS managed keys (kms model, CreateAlias AliasName: "The alias name cannot begin with
# alias/aws/"), in every partition.
_AWS_MANAGED_ALIAS = re.compile(r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:)?alias/aws/")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")
# An event bus ARN (events model, EventBusNameOrArn: "arn:aws[\w-]*:events:...:[0-9]{12}:event-bus/...").
_BUS_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[/.\-_A-Za-z0-9]{1,256}$")
# A Lambda function name or unqualified ARN (lambda model, FunctionName: 1-64 of [a-zA-Z0-9-_]).
_FUNCTION = re.compile(r"^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:)?[A-Za-z0-9_-]{1,64}$")

ENV_PREFIX = "XRAY_GUARD_"
# Exempt-principal patterns: IAM ARNs, and Identity Center users as the event parser names them
# (`identitycenter:<identityStoreArn>/user/<userId>`, chalicelib.events).
EXEMPT_PATTERN_PREFIXES = ("arn:", "identitycenter:")


def _customer_managed(ref: str) -> str:
    if _AWS_MANAGED_ALIAS.match(ref):
        # Refused before any AWS call: DescribeKey of such an alias is not a harmless read (kms model, DescribeKey:
        # "If you specify a predefined Amazon Web Services alias (an Amazon Web Services alias with no key ID), KMS
        # associates the alias with an Amazon Web Services managed key and returns its KeyId and Arn").
        raise ValueError(
            f"{ref} is an AWS managed key alias (alias/aws/ is reserved for them): the approved key must be a "
            "customer managed key, and even resolving an aws/ alias with kms:DescribeKey creates the AWS managed key"
        )
    return ref


KeyRef = Annotated[str, Field(pattern=_KEY_REF.pattern), AfterValidator(_customer_managed)]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _variable(field: str) -> str:
    return ENV_PREFIX + field.upper()


class Settings(BaseModel):
    """Validated configuration of one deployment."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=AliasGenerator(validation_alias=_variable),
        validate_by_alias=True,
        validate_by_name=True,
    )

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
    activation_timeout_seconds: float = Field(
        default=120.0, gt=0, le=840, validation_alias=ENV_PREFIX + "ACTIVATION_TIMEOUT"
    )
    failure_queue_url: str | None = None
    sweep_table: str | None = None
    sinks: tuple[SinkName, ...] = (SinkName.SNS,)
    # Event coverage (chalicelib/coverage.py): the bus member rules forward to (default: the default bus of the
    # account and Region xray-guard runs in), and the function the central Region's own rule targets.
    central_bus_arn: str | None = Field(default=None, pattern=_BUS_ARN.pattern)
    responder_function: str | None = Field(default=None, pattern=_FUNCTION.pattern)
    # Key posture (chalicelib.keyposture): the sweep and `audit --fix` may turn the approved key's rotation on;
    # the organization id is what an aws:PrincipalOrgID condition in a key policy must name to count as pinned.
    fix_key_rotation: bool = False
    organization_id: str | None = Field(default=None, pattern=r"^o-[a-z0-9]{10,32}$")

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

    @field_validator("exempt_principals", "regions", "sinks", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("exempt_principals")
    @classmethod
    def _principal_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in value if not p.startswith(EXEMPT_PATTERN_PREFIXES)]
        if bad:
            raise ValueError(
                "each entry must be an ARN pattern starting with 'arn:' or an Identity Center user pattern "
                f"starting with 'identitycenter:' (got {bad})"
            )
        return value

    @field_validator("regions")
    @classmethod
    def _region_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in value if r != "all" and not _REGION.match(r)]
        if bad:
            raise ValueError(f"must be 'all' or region names like eu-west-1, got {bad}")
        return tuple(r for r in value if r != "all")

    @field_validator("sinks")
    @classmethod
    def _sinks(cls, value: tuple[SinkName, ...]) -> tuple[SinkName, ...]:
        if not value:
            raise ValueError("name at least one destination: sns, securityhub, eventbridge")
        return tuple(dict.fromkeys(value))  # each destination once, in the order given

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
    def approved_key_refs(self) -> frozenset[str]:
        """Every configured approved key reference (the default and the per-region ones)."""
        return frozenset({self.kms_key, *self.kms_keys.values()})

    @property
    def central_key_refs(self) -> tuple[str, ...]:
        """The approved keys configured by ARN (a central key, possibly of another account), sorted: their posture is
        read once per sweep by scheduled_sweep with the owner's credentials."""
        return tuple(sorted(ref for ref in self.approved_key_refs if ref.startswith("arn:")))

    @property
    def topic_region(self) -> str:
        if self.topic_arn is None:
            raise ConfigError("XRAY_GUARD_TOPIC_ARN: is required to send alerts (allowed: an SNS topic ARN)")
        return Arn.of(self.topic_arn).region

    @property
    def account_list(self) -> tuple[str, ...] | None:
        """Explicit accounts to sweep, or None for the whole organization."""
        return None if self.accounts == "org" else tuple(self.accounts.split(","))

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, required: tuple[str, ...] = ("XRAY_GUARD_TOPIC_ARN",)) -> Self:
        """Build settings from environment variables; raise ConfigError naming each bad variable.

        `required` names variables that must be set for this entry point (the Lambda needs the topic;
        the audit command does not). Any other `XRAY_GUARD_*` variable must be one the model reads.
        """
        known = env_variables(cls)
        problems = [f"{var}: {_unknown(var, known)}" for var in sorted(env) if _is_ours(var) and var not in known]
        problems += [f"{var}: is required" for var in required if env.get(var, "") == ""]
        if problems:
            raise ConfigError("invalid xray-guard configuration: " + "; ".join(problems))
        raw = {var: env[var] for var in known if env.get(var, "") != ""}
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise ConfigError("invalid xray-guard configuration: " + "; ".join(_problems(e, known))) from e


def env_variables(model: type[Settings] = Settings) -> dict[str, str]:
    """Every environment variable the settings model reads, mapped to its field name."""
    return {str(info.validation_alias): field for field, info in model.model_fields.items()}


def _is_ours(var: str) -> bool:
    # Case-insensitive: `xray_guard_mode` is a different variable on Linux, and would be silently ignored.
    return var.upper().startswith(ENV_PREFIX)


def _unknown(var: str, known: Mapping[str, str]) -> str:
    closest = difflib.get_close_matches(var.upper(), list(known), n=1, cutoff=0.0)
    return "unknown variable" + (f" (closest known: {closest[0]})" if closest else "")


def _problems(error: ValidationError, fields: Mapping[str, str]) -> list[str]:
    problems = []
    for err in error.errors():
        var, *inner = [str(part) for part in err["loc"]] or ["?"]
        where = "".join(f"{part}: " for part in inner)  # the region of an XRAY_GUARD_KMS_KEYS entry
        problems.append(f"{var}: {where}{_explain(fields.get(var, var), err['msg'])}")
    return problems


def _explain(field: str, msg: str) -> str:
    allowed = {
        "mode": "allowed: alert, revert",
        "kms_key": "allowed: alias/NAME, a key id, or a key/alias ARN",
        "topic_arn": "allowed: an SNS topic ARN",
        "member_role": "allowed: an IAM role name",
        "require_cmk": "allowed: true, false",
        "central_bus_arn": "allowed: an EventBridge event bus ARN",
        "responder_function": "allowed: a Lambda function name or ARN",
        "fix_key_rotation": "allowed: true, false",
        "organization_id": "allowed: an AWS Organizations id, o-...",
    }
    if msg.startswith("Value error, "):
        return msg.removeprefix("Value error, ")  # our own validators already say what is allowed
    if msg == "Field required":
        msg = "is required"
    hint = allowed.get(field)
    return f"{msg} ({hint})" if hint else msg
