"""Configuration: valid values parse; each bad value fails naming the variable and what is allowed."""

from __future__ import annotations

import json

import pytest

from chalicelib.errors import ConfigError
from chalicelib.settings import Mode, Settings

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
