"""Configuration: valid values parse; each bad value fails naming the variable and what is allowed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chalicelib.domain import Mode
from chalicelib.errors import ConfigError
from chalicelib.settings import Settings, env_variables

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC = "arn:aws:sns:us-east-1:123456789012:xray-guard-alerts"
BASE = {"XRAY_GUARD_KMS_KEY": "alias/xray-encryption", "XRAY_GUARD_TOPIC_ARN": TOPIC}


def test_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.mode is Mode.ALERT
    assert settings.member_role == "XRayGuardMember"
    assert settings.require_cmk is True
    assert settings.exempt_principals == ()
    assert settings.approved_key_ref("eu-west-1") == "alias/xray-encryption"
    assert settings.topic_region == "us-east-1"


def test_full_configuration() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "XRAY_GUARD_MODE": "revert",
            "XRAY_GUARD_KMS_KEYS": json.dumps({"eu-west-1": f"arn:aws:kms:eu-west-1:123456789012:key/{KEY_ID}"}),
            "XRAY_GUARD_MEMBER_ROLE": "OrgXRayGuard",
            "XRAY_GUARD_EXEMPT_PRINCIPALS": "arn:aws:iam::*:role/SecurityBreakGlass, arn:aws:iam::*:user/root-ops",
            "XRAY_GUARD_REQUIRE_CMK": "false",
            "XRAY_GUARD_ACCOUNTS": "111111111111,222222222222",
        }
    )
    assert settings.mode is Mode.REVERT
    assert settings.approved_key_ref("eu-west-1").startswith("arn:aws:kms:eu-west-1")
    assert settings.approved_key_ref("us-east-1") == "alias/xray-encryption"
    assert settings.exempt_principals == ("arn:aws:iam::*:role/SecurityBreakGlass", "arn:aws:iam::*:user/root-ops")
    assert settings.require_cmk is False
    assert settings.account_list == ("111111111111", "222222222222")


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("XRAY_GUARD_MODE", "fix-it", "alert, revert"),
        ("XRAY_GUARD_KMS_KEY", "xray-encryption", "alias/NAME"),
        ("XRAY_GUARD_KMS_KEYS", "{not json", "JSON"),
        ("XRAY_GUARD_KMS_KEYS", '["alias/x"]', "JSON object"),
        ("XRAY_GUARD_KMS_KEYS", '{"mars-north-1a": "alias/x"}', "region"),
        ("XRAY_GUARD_TOPIC_ARN", "xray-guard-alerts", "SNS topic ARN"),
        ("XRAY_GUARD_MEMBER_ROLE", "bad role name!", "role name"),
        ("XRAY_GUARD_EXEMPT_PRINCIPALS", "SecurityBreakGlass", "ARN pattern"),
        ("XRAY_GUARD_REQUIRE_CMK", "maybe", "true, false"),
        ("XRAY_GUARD_ACCOUNTS", "1234", "12-digit"),
        ("XRAY_GUARD_ACTIVATION_TIMEOUT", "-1", "greater than 0"),
        ("XRAY_GUARD_CENTRAL_BUS_ARN", "default", "event bus ARN"),
        ("XRAY_GUARD_CENTRAL_BUS_ARN", "arn:aws:sns:eu-west-1:111122223333:default", "event bus ARN"),
        ("XRAY_GUARD_RESPONDER_FUNCTION", "on change!", "function name or ARN"),
        ("XRAY_GUARD_RESPONDER_FUNCTION", "arn:aws:lambda:eu-west-1:1:function:f", "function name or ARN"),
    ],
)
def test_bad_value_names_the_variable_and_what_is_allowed(variable: str, value: str, hint: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({**BASE, variable: value})
    assert variable in str(error.value)
    assert hint in str(error.value)


@pytest.mark.parametrize("missing", ["XRAY_GUARD_KMS_KEY", "XRAY_GUARD_TOPIC_ARN"])
def test_missing_required_variable(missing: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ConfigError, match=f"{missing}: is required"):
        Settings.from_env(env)


def test_audit_does_not_need_a_topic() -> None:
    settings = Settings.from_env({"XRAY_GUARD_KMS_KEY": "alias/xray-encryption"}, required=())
    assert settings.topic_arn is None
    with pytest.raises(ConfigError, match="XRAY_GUARD_TOPIC_ARN"):
        _ = settings.topic_region


# -- an approved key that is not customer managed is refused at load, without any AWS call --------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("XRAY_GUARD_KMS_KEY", "alias/aws/xray"),
        ("XRAY_GUARD_KMS_KEY", "alias/aws/anything-else"),
        ("XRAY_GUARD_KMS_KEY", "arn:aws:kms:us-east-1:123456789012:alias/aws/xray"),
        ("XRAY_GUARD_KMS_KEY", "arn:aws-cn:kms:cn-north-1:123456789012:alias/aws/xray"),
        ("XRAY_GUARD_KMS_KEY", "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/aws/xray"),
        ("XRAY_GUARD_KMS_KEYS", '{"eu-west-1": "alias/aws/xray"}'),
        ("XRAY_GUARD_KMS_KEYS", '{"eu-west-1": "arn:aws:kms:eu-west-1:123456789012:alias/aws/xray"}'),
    ],
)
def test_an_aws_managed_key_alias_is_refused_naming_the_variable_and_why(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({**BASE, variable: value})

    message = str(error.value)
    assert f"{variable}: " in message
    assert "AWS managed key" in message
    assert "customer managed key" in message
    assert "kms:DescribeKey creates the AWS managed key" in message
    if variable == "XRAY_GUARD_KMS_KEYS":
        assert "XRAY_GUARD_KMS_KEYS: eu-west-1: " in message  # which entry


@pytest.mark.parametrize(
    "ref",
    [
        "alias/xray-encryption",
        "alias/awsome",  # not the reserved alias/aws/ prefix
        "alias/team/aws/xray",
        KEY_ID,
        "mrk-1234abcd12ab34cd56ef1234567890ab",
        f"arn:aws:kms:us-east-1:123456789012:key/{KEY_ID}",
        f"arn:aws-cn:kms:cn-north-1:123456789012:key/{KEY_ID}",
        f"arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/{KEY_ID}",
        "arn:aws-iso-b:kms:us-isob-east-1:123456789012:alias/xray-encryption",
        "arn:aws:kms:eu-west-1:111122223333:alias/xray-central",
    ],
)
def test_customer_managed_key_references_in_every_partition_are_accepted(ref: str) -> None:
    settings = Settings.from_env(
        {**BASE, "XRAY_GUARD_KMS_KEY": ref, "XRAY_GUARD_KMS_KEYS": json.dumps({"eu-west-1": ref})}
    )

    assert settings.approved_key_ref("us-east-1") == ref
    assert settings.approved_key_ref("eu-west-1") == ref


# -- typos: an unknown XRAY_GUARD_* variable fails the load naming the closest known one ----------------------------


@pytest.mark.parametrize(
    ("typo", "closest"),
    [
        ("XRAY_GUARD_MOD", "XRAY_GUARD_MODE"),
        ("XRAY_GUARD_MODES", "XRAY_GUARD_MODE"),
        ("XRAY_GUARD_KMS_KEYID", "XRAY_GUARD_KMS_KEY"),
        ("XRAY_GUARD_EXEMPT_PRINCIPLES", "XRAY_GUARD_EXEMPT_PRINCIPALS"),
        ("XRAY_GUARD_ACTIVATION_TIMEOUT_SECONDS", "XRAY_GUARD_ACTIVATION_TIMEOUT"),
        ("XRAY_GUARD_REQUIRE_CMK_", "XRAY_GUARD_REQUIRE_CMK"),
        ("xray_guard_mode", "XRAY_GUARD_MODE"),  # a different (ignored) variable on Linux
        ("Xray_Guard_Regions", "XRAY_GUARD_REGIONS"),
    ],
)
def test_an_unknown_variable_fails_naming_it_and_the_closest_known_one(typo: str, closest: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({**BASE, typo: "revert"})

    assert f"{typo}: unknown variable (closest known: {closest})" in str(error.value)


def test_an_unknown_variable_fails_even_when_empty_and_alongside_other_problems() -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"XRAY_GUARD_KMS_KEY": "alias/x", "XRAY_GUARD_SWEEP_TABEL": ""})

    assert "XRAY_GUARD_SWEEP_TABEL: unknown variable (closest known: XRAY_GUARD_SWEEP_TABLE)" in str(error.value)
    assert "XRAY_GUARD_TOPIC_ARN: is required" in str(error.value)


def test_other_variables_are_not_ours_to_judge() -> None:
    settings = Settings.from_env({**BASE, "XRAY_GUARDIAN": "x", "AWS_REGION": "eu-west-1", "XRAY_MODE": "revert"})

    assert settings.mode is Mode.ALERT


def test_the_known_variables_come_from_the_model() -> None:
    """A field added later is a known variable with no list to update: its name, or its validation_alias."""

    class Extended(Settings):
        canary_percent: int = 0

    assert env_variables(Extended)["XRAY_GUARD_CANARY_PERCENT"] == "canary_percent"
    assert Extended.from_env({**BASE, "XRAY_GUARD_CANARY_PERCENT": "5"}).canary_percent == 5
    with pytest.raises(
        ConfigError, match=r"XRAY_GUARD_CANARY_PERCNT: unknown variable \(closest known: XRAY_GUARD_CANARY_PERCENT\)"
    ):
        Extended.from_env({**BASE, "XRAY_GUARD_CANARY_PERCNT": "5"})
    with pytest.raises(ConfigError, match="XRAY_GUARD_CANARY_PERCENT: Input should be a valid integer"):
        Extended.from_env({**BASE, "XRAY_GUARD_CANARY_PERCENT": "five"})


def test_every_variable_the_deployment_sets_is_known_and_documented() -> None:
    """A deployment that sets a variable the model does not know would now fail at cold start: the Chalice config,
    the central template and the README's configuration table name only known variables, and the README all of them."""
    root = Path(__file__).parent.parent
    known = set(env_variables())
    named = re.compile(r"\bXRAY_GUARD_[A-Z_]*[A-Z]\b")
    deployed = set(named.findall((root / ".chalice" / "config.json").read_text()))
    deployed |= set(named.findall((root / "infra" / "central.json").read_text()))
    readme_table = {m for line in (root / "README.md").read_text().splitlines() if line.startswith("| `XRAY_GUARD_")
                    for m in named.findall(line.split("|")[1])}  # fmt: skip

    assert deployed, "the deployment sets no variables?"
    assert deployed <= known
    assert readme_table == known


@pytest.mark.parametrize(
    "pattern",
    [
        "arn:aws:iam::*:role/SecurityBreakGlass",
        "arn:*:iam::*:role/SecurityBreakGlass",
        "identitycenter:arn:aws:identitystore::111111111111:identitystore/d-9067642ac7/user/*",
        "identitycenter:*/user/544894e8-80c1-707f-60e3-3ba6510dfac1",
    ],
)
def test_exempt_principals_accept_arn_and_identity_center_patterns(pattern: str) -> None:
    assert Settings.from_env({**BASE, "XRAY_GUARD_EXEMPT_PRINCIPALS": pattern}).exempt_principals == (pattern,)
