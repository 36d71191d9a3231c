"""localaws's second X-Ray trace store: the trace segment destination (Transaction Search), the ``aws/spans`` log
group and CloudWatch Logs key association, with boto3 and the AWS CLI against a real localaws."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from localaws import FaultSettings, LocalAWS, LocalAWSClient, admin_session
from localaws.__main__ import parse_settings
from localaws.logs import policy_allows_logs
from localaws.world import key_policy, local_session
from tests.helpers import NO_RETRIES, UNCHECKED, error_of
from tests.test_localaws import run_aws_cli

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_xray import XRayClient

ACCOUNT = "123456789012"  # the session's default credentials act here
OTHER_ACCOUNT = "222222222222"
REGION = "us-east-1"
SPANS = "aws/spans"
SPANS_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{SPANS}"
UNKNOWN_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
UPDATING_SECONDS = 5.0


@functools.cache  # one client per region for the whole session: the endpoint and credentials never change
def xray(region: str = REGION) -> XRayClient:
    return boto3.client("xray", region_name=region, config=NO_RETRIES)


def own_xray(aws: LocalAWS, region: str) -> XRayClient:
    """An X-Ray client of a LocalAWS started by the test itself (not the session's)."""
    return boto3.Session(botocore_session=local_session(aws.endpoint_url)).client(
        "xray", region_name=region, config=NO_RETRIES
    )


@functools.cache  # one client per region for the whole session: the endpoint and credentials never change
def kms(region: str = REGION) -> KMSClient:
    return boto3.client("kms", region_name=region, config=NO_RETRIES)


@functools.cache  # one client per region for the whole session: the endpoint and credentials never change
def logs(region: str = REGION) -> Any:
    return boto3.client("logs", region_name=region, config=NO_RETRIES)


def logs_statement(
    region: str = REGION, account: str = ACCOUNT, group: str = SPANS, service: str | None = None
) -> dict[str, Any]:
    """The statement issue 7 adds to the approved key's policy, with the template's substitutions made."""
    return {
        "Sid": "AllowCloudWatchLogsForSpans",
        "Effect": "Allow",
        "Principal": {"Service": service or f"logs.{region}.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "Resource": "*",
        "Condition": {
            "ArnEquals": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:log-group:{group}"}
        },
    }


def logs_key(client: KMSClient | None = None, region: str = REGION, account: str = ACCOUNT, **kwargs: Any) -> str:
    """The ARN of a key whose policy lets CloudWatch Logs encrypt aws/spans."""
    policy = key_policy(account, logs_statement(region, account))
    return (client or kms(region)).create_key(Policy=policy, **kwargs)["KeyMetadata"]["Arn"]


def plain_key(client: KMSClient | None = None) -> str:
    """The ARN of a key with moto's default policy (root only, no CloudWatch Logs statement)."""
    return (client or kms()).create_key()["KeyMetadata"]["Arn"]


def log_groups(prefix: str = SPANS, region: str = REGION) -> list[dict[str, Any]]:
    return list(logs(region).describe_log_groups(logGroupNamePrefix=prefix)["logGroups"])


def spans_group(region: str = REGION) -> dict[str, Any] | None:
    """aws/spans as DescribeLogGroups shows it (exact name match), or None."""
    return next((g for g in log_groups(SPANS, region) if g["logGroupName"] == SPANS), None)


def destination(client: XRayClient | None = None) -> dict[str, str]:
    answer = (client or xray()).get_trace_segment_destination()
    return {"Destination": answer["Destination"], "Status": answer["Status"]}


# --- GetTraceSegmentDestination / UpdateTraceSegmentDestination ----------------------------------------------


def test_destination_is_xray_until_changed(aws: LocalAWS) -> None:
    assert destination() == {"Destination": "XRay", "Status": "ACTIVE"}
    assert spans_group() is None


def test_switch_to_cloudwatch_logs_creates_aws_spans_without_a_key(aws: LocalAWS) -> None:
    updated = xray().update_trace_segment_destination(Destination="CloudWatchLogs")

    assert (updated["Destination"], updated["Status"]) == ("CloudWatchLogs", "PENDING")
    # The session's localaws runs with updating_seconds=0.
    assert destination() == {"Destination": "CloudWatchLogs", "Status": "ACTIVE"}
    group = spans_group()
    assert group is not None
    assert group["logGroupArn"] == SPANS_ARN
    assert "kmsKeyId" not in group


def test_switch_with_spans_key_creates_aws_spans_under_that_key(aws: LocalAWS) -> None:
    key_arn = logs_key()

    xray().update_trace_segment_destination(
        Destination="CloudWatchLogs", CloudWatchLogsConfiguration={"SpansLogGroupKmsKeyId": key_arn}
    )

    group = spans_group()
    assert group is not None
    assert group["kmsKeyId"] == key_arn


def test_switching_again_or_back_keeps_the_existing_group_as_it_is(aws: LocalAWS) -> None:
    key_arn = logs_key()
    client = xray()
    client.update_trace_segment_destination(
        Destination="CloudWatchLogs", CloudWatchLogsConfiguration={"SpansLogGroupKmsKeyId": key_arn}
    )

    client.update_trace_segment_destination(Destination="CloudWatchLogs")
    again = spans_group()
    client.update_trace_segment_destination(Destination="XRay")
    back = spans_group()

    assert again is not None
    assert again["kmsKeyId"] == key_arn
    assert destination() == {"Destination": "XRay", "Status": "ACTIVE"}
    # Assumption in localaws: X-Ray leaves aws/spans in place when spans go back to X-Ray.
    assert back == again


def test_destination_is_pending_for_updating_seconds() -> None:
    now = [1000.0]
    with LocalAWS(updating_seconds=UPDATING_SECONDS, clock=lambda: now[0]) as aws:
        aws.reset()
        client = own_xray(aws, REGION)

        updated = client.update_trace_segment_destination(Destination="CloudWatchLogs")
        during = destination(client)
        now[0] += UPDATING_SECONDS
        after = destination(client)
        client.update_trace_segment_destination(Destination="XRay")
        back_during = destination(client)
        now[0] += UPDATING_SECONDS
        back_after = destination(client)

    assert updated["Status"] == "PENDING"
    assert during == {"Destination": "CloudWatchLogs", "Status": "PENDING"}
    assert after == {"Destination": "CloudWatchLogs", "Status": "ACTIVE"}
    assert back_during == {"Destination": "XRay", "Status": "PENDING"}
    assert back_after == {"Destination": "XRay", "Status": "ACTIVE"}


def test_destination_is_separate_per_account_and_region(aws: LocalAWS) -> None:
    member = admin_session(OTHER_ACCOUNT, "eu-west-1")

    member.client("xray").update_trace_segment_destination(Destination="CloudWatchLogs")

    assert destination(member.client("xray")) == {"Destination": "CloudWatchLogs", "Status": "ACTIVE"}
    assert destination(admin_session(OTHER_ACCOUNT, REGION).client("xray"))["Destination"] == "XRay"
    assert destination(xray("eu-west-1"))["Destination"] == "XRay"
    assert destination()["Destination"] == "XRay"
    assert [g["logGroupArn"] for g in member.client("logs").describe_log_groups()["logGroups"]] == [
        f"arn:aws:logs:eu-west-1:{OTHER_ACCOUNT}:log-group:{SPANS}"
    ]
    assert spans_group("eu-west-1") is None


def key_id_only() -> str:
    return logs_key().split(":key/")[1]


def alias_arn() -> str:
    key_arn = logs_key()
    kms().create_alias(AliasName="alias/spans", TargetKeyId=key_arn)
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/spans"


def key_in_other_region() -> str:
    return logs_key(region="eu-west-1")


def key_in_other_account() -> str:
    return logs_key(admin_session(OTHER_ACCOUNT, REGION).client("kms"), account=OTHER_ACCOUNT)


def key_of_existing_group() -> str:
    xray().update_trace_segment_destination(Destination="CloudWatchLogs")
    return logs_key()


def disabled_key() -> str:
    key_arn = logs_key()
    kms().disable_key(KeyId=key_arn)
    return key_arn


def key_without_logs_statement() -> str:
    return plain_key()


def key_for_another_group() -> str:
    return kms().create_key(Policy=key_policy(ACCOUNT, logs_statement(group="other")))["KeyMetadata"]["Arn"]


def asymmetric_key() -> str:
    policy = key_policy(ACCOUNT, logs_statement())
    return kms().create_key(Policy=policy, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]


@pytest.mark.parametrize(
    ("make_key", "message"),
    [
        (key_id_only, "must be a KMS key ARN"),
        (alias_arn, "must be a KMS key ARN"),
        (key_in_other_region, "same account"),
        (key_in_other_account, "same account"),
        (key_of_existing_group, "already exists"),
        (disabled_key, "not enabled"),
        (asymmetric_key, "symmetric"),
        (key_without_logs_statement, "not allowed to be used with Arn"),
        (key_for_another_group, "not allowed to be used with Arn"),
        (lambda: UNKNOWN_KEY_ARN, "could not be found"),
    ],
    ids=[
        "key-id",
        "alias-arn",
        "other-region",
        "other-account",
        "group-exists",
        "disabled",
        "asymmetric",
        "no-logs-statement",
        "statement-for-another-group",
        "unknown-key",
    ],
)
def test_spans_key_that_xray_cannot_apply_is_refused_and_nothing_changes(
    aws: LocalAWS, make_key: Callable[[], str], message: str
) -> None:
    key_ref = make_key()
    destination_before = destination()
    group_before = spans_group()

    code, got_message, status = error_of(
        lambda: xray().update_trace_segment_destination(
            Destination="CloudWatchLogs", CloudWatchLogsConfiguration={"SpansLogGroupKmsKeyId": key_ref}
        )
    )

    assert (code, status) == ("InvalidRequestException", 400)
    assert message in got_message
    assert destination() == destination_before
    assert spans_group() == group_before


def update_unchecked(client: XRayClient, **params: Any) -> None:
    """UpdateTraceSegmentDestination with values the type stubs would refuse (botocore does not check enums)."""
    client.update_trace_segment_destination(**params)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Destination must be XRay or CloudWatchLogs"),
        ({"Destination": "S3"}, "Destination must be XRay or CloudWatchLogs"),
        ({"Destination": "XRay", "CloudWatchLogsConfiguration": {}}, "only valid with Destination CloudWatchLogs"),
    ],
    ids=["no-destination", "unknown-destination", "configuration-with-xray"],
)
def test_update_with_bad_parameters_is_refused(aws: LocalAWS, params: dict[str, Any], message: str) -> None:
    code, got_message, status = error_of(lambda: update_unchecked(xray(), **params))

    assert (code, status) == ("InvalidRequestException", 400)
    assert message in got_message
    assert destination() == {"Destination": "XRay", "Status": "ACTIVE"}


# --- A region without Transaction Search ---------------------------------------------------------------------


def test_region_without_transaction_search_does_not_know_the_operations(aws: LocalAWS) -> None:
    settings = aws.set_faults(no_transaction_search=["eu-west-1"])

    get_error = error_of(lambda: xray("eu-west-1").get_trace_segment_destination())
    update_error = error_of(lambda: xray("eu-west-1").update_trace_segment_destination(Destination="CloudWatchLogs"))
    elsewhere = destination(xray(REGION))
    encryption = xray("eu-west-1").get_encryption_config()["EncryptionConfig"]
    calls = [(c["operation"], c["region"]) for c in aws.calls()]

    assert settings["no_transaction_search"] == ["eu-west-1"]
    for code, message, status in (get_error, update_error):
        assert (code, status) == ("UnknownOperationException", 404)
        assert message == "The requested operation is not supported in the called region."
    assert elsewhere == {"Destination": "XRay", "Status": "ACTIVE"}
    assert encryption["Type"] == "NONE"
    assert spans_group("eu-west-1") is None
    assert calls == [
        ("GetTraceSegmentDestination", "eu-west-1"),
        ("UpdateTraceSegmentDestination", "eu-west-1"),
        ("GetTraceSegmentDestination", REGION),
        ("GetEncryptionConfig", "eu-west-1"),
    ]


def test_region_switch_from_constructor_environment_options_and_control_endpoint() -> None:
    from_env = FaultSettings.from_env({"LOCALAWS_NO_TRANSACTION_SEARCH": "us-gov-west-1, us-gov-east-1"})
    _, from_options = parse_settings(["--no-transaction-search", "cn-north-1"], {})
    with pytest.raises(ValueError, match="LOCALAWS_\\* settings: no_transaction_search"):
        FaultSettings.from_env({"LOCALAWS_NO_TRANSACTION_SEARCH": "govcloud"})
    with LocalAWS(no_transaction_search=["us-gov-west-1"]) as aws:
        aws.reset()
        control = LocalAWSClient(aws.endpoint_url)
        client = own_xray(aws, "us-gov-west-1")
        started_without = error_of(client.get_trace_segment_destination)[0]
        cleared = control.set_faults(no_transaction_search=[])
        answered = client.get_trace_segment_destination()["Destination"]
        with pytest.raises(RuntimeError, match="no_transaction_search"):
            control.set_faults(no_transaction_search=["not a region"])

    assert from_env.no_transaction_search == ("us-gov-west-1", "us-gov-east-1")
    assert from_options.no_transaction_search == ("cn-north-1",)
    assert started_without == "UnknownOperationException"
    assert cleared["no_transaction_search"] == []
    assert answered == "XRay"


# --- CloudWatch Logs AssociateKmsKey / DisassociateKmsKey ----------------------------------------------------


def target(form: str, name: str) -> dict[str, str]:
    if form == "name":
        return {"logGroupName": name}
    return {"resourceIdentifier": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"}


@pytest.mark.parametrize("form", ["name", "resource_identifier"])
def test_associate_and_disassociate_by_name_or_resource_identifier(aws: LocalAWS, form: str) -> None:
    xray().update_trace_segment_destination(Destination="CloudWatchLogs")
    key_arn = logs_key()
    client = logs()

    client.associate_kms_key(kmsKeyId=key_arn, **target(form, SPANS))
    associated = spans_group()
    client.disassociate_kms_key(**target(form, SPANS))
    disassociated = spans_group()

    assert associated is not None
    assert associated["kmsKeyId"] == key_arn
    assert disassociated is not None
    assert "kmsKeyId" not in disassociated


def test_associate_replaces_the_key_and_any_group_can_be_keyed(aws: LocalAWS) -> None:
    client = logs()
    client.create_log_group(logGroupName="app/audit")
    first = kms().create_key(Policy=key_policy(ACCOUNT, logs_statement(group="app/audit")))["KeyMetadata"]["Arn"]
    any_app_group = {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:app/*"}
    }
    any_app_policy = key_policy(ACCOUNT, logs_statement() | {"Condition": any_app_group})
    second = kms().create_key(Policy=any_app_policy)["KeyMetadata"]

    client.associate_kms_key(logGroupName="app/audit", kmsKeyId=first)
    client.associate_kms_key(logGroupName="app/audit", kmsKeyId=second["Arn"])

    assert [g.get("kmsKeyId") for g in log_groups("app/")] == [second["Arn"]]


def test_disassociating_a_group_without_a_key_succeeds(aws: LocalAWS) -> None:
    logs().create_log_group(logGroupName="app/plain")

    logs().disassociate_kms_key(logGroupName="app/plain")

    assert "kmsKeyId" not in log_groups("app/plain")[0]


def test_query_results_key_can_be_associated_and_disassociated(aws: LocalAWS) -> None:
    query_results = f"arn:aws:logs:{REGION}:{ACCOUNT}:query-result:*"
    unconditioned = logs_statement() | {"Condition": {}}
    key_arn = kms().create_key(Policy=key_policy(ACCOUNT, unconditioned))["KeyMetadata"]["Arn"]

    logs().associate_kms_key(resourceIdentifier=query_results, kmsKeyId=key_arn)
    logs().disassociate_kms_key(resourceIdentifier=query_results)
    refused = error_of(lambda: logs().associate_kms_key(resourceIdentifier=query_results, kmsKeyId=plain_key()))

    assert refused[0] == "AccessDeniedException"


def spans_group_key() -> str:
    xray().update_trace_segment_destination(Destination="CloudWatchLogs")
    return logs_key()


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        (lambda k: {"logGroupName": "missing", "kmsKeyId": k}, "ResourceNotFoundException", "does not exist"),
        (lambda k: {"logGroupName": SPANS, "kmsKeyId": k.split(":key/")[1]}, "InvalidParameterException", "ARN"),
        (
            lambda _k: {"logGroupName": SPANS, "kmsKeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/spans"},
            "InvalidParameterException",
            "could not be found",
        ),
        (
            lambda _k: {"logGroupName": SPANS, "kmsKeyId": UNKNOWN_KEY_ARN},
            "InvalidParameterException",
            "could not be found",
        ),
        (lambda _k: {"logGroupName": SPANS}, "InvalidParameterException", "kmsKeyId is required"),
        (
            lambda k: {"logGroupName": SPANS, "resourceIdentifier": SPANS_ARN, "kmsKeyId": k},
            "InvalidParameterException",
            "not both",
        ),
        (lambda k: {"kmsKeyId": k}, "InvalidParameterException", "either logGroupName or resourceIdentifier"),
        (
            lambda k: {"resourceIdentifier": f"arn:aws:logs:{REGION}:{OTHER_ACCOUNT}:log-group:{SPANS}", "kmsKeyId": k},
            "InvalidParameterException",
            "is not in account",
        ),
        (
            lambda k: {"resourceIdentifier": f"{SPANS_ARN}:*", "kmsKeyId": k},
            "InvalidParameterException",
            "Invalid log group name",
        ),
        (
            lambda k: {"resourceIdentifier": f"arn:aws:logs:{REGION}:{ACCOUNT}:destination:x", "kmsKeyId": k},
            "InvalidParameterException",
            "log group or query-result ARN",
        ),
    ],
    ids=[
        "missing-group",
        "key-id",
        "alias-arn",
        "unknown-key",
        "no-key",
        "name-and-identifier",
        "neither",
        "other-account",
        "arn-with-star",
        "not-a-log-group",
    ],
)
def test_associate_errors(aws: LocalAWS, params: Callable[[str], dict[str, str]], code: str, message: str) -> None:
    key_arn = spans_group_key()
    request = params(key_arn)

    got_code, got_message, status = error_of(lambda: associate_unchecked(request))

    assert (got_code, status) == (code, 400)
    assert message in got_message
    group = spans_group()
    assert group is not None
    assert "kmsKeyId" not in group


def associate_unchecked(params: dict[str, str]) -> None:
    """AssociateKmsKey without botocore's check of required parameters, to reach the server's own checks."""
    boto3.client("logs", region_name=REGION, config=UNCHECKED).associate_kms_key(**params)


def pending_deletion_logs_key() -> str:
    key_arn = logs_key()
    kms().schedule_key_deletion(KeyId=key_arn, PendingWindowInDays=7)
    return key_arn


@pytest.mark.parametrize(
    ("make_key", "code", "message"),
    [
        (disabled_key, "InvalidParameterException", "not enabled (KeyState Disabled)"),
        (pending_deletion_logs_key, "InvalidParameterException", "not enabled (KeyState PendingDeletion)"),
        (asymmetric_key, "InvalidParameterException", "symmetric"),
        (key_without_logs_statement, "AccessDeniedException", "not allowed to be used with Arn"),
        (key_for_another_group, "AccessDeniedException", "not allowed to be used with Arn"),
        (lambda: logs_key(region="eu-west-1"), "AccessDeniedException", "not allowed to be used with Arn"),
    ],
    ids=["disabled", "pending-deletion", "asymmetric", "no-logs-statement", "another-group", "other-region-key"],
)
def test_associate_refuses_keys_cloudwatch_logs_cannot_use(
    aws: LocalAWS, make_key: Callable[[], str], code: str, message: str
) -> None:
    xray().update_trace_segment_destination(Destination="CloudWatchLogs")
    key_arn = make_key()

    got_code, got_message, status = error_of(lambda: logs().associate_kms_key(logGroupName=SPANS, kmsKeyId=key_arn))

    assert (got_code, status) == (code, 400)
    assert message in got_message
    if code == "AccessDeniedException":
        assert (
            got_message == f"The specified KMS key does not exist or is not allowed to be used with Arn '{SPANS_ARN}'"
        )
    group = spans_group()
    assert group is not None
    assert "kmsKeyId" not in group


def test_disassociate_of_a_missing_group_is_not_found(aws: LocalAWS) -> None:
    code, _, status = error_of(lambda: logs().disassociate_kms_key(logGroupName=SPANS))

    assert (code, status) == ("ResourceNotFoundException", 400)


def test_injected_failure_can_answer_invalid_parameter_for_associate(aws: LocalAWS) -> None:
    xray().update_trace_segment_destination(Destination="CloudWatchLogs")
    key_arn = logs_key()
    aws.set_faults(fail=["logs:AssociateKmsKey=InvalidParameterException"])

    code, _, status = error_of(lambda: logs().associate_kms_key(logGroupName=SPANS, kmsKeyId=key_arn))

    assert (code, status) == ("InvalidParameterException", 400)


LOGS = f"logs.{REGION}.amazonaws.com"


@pytest.mark.parametrize(
    ("statement", "allowed"),
    [
        (logs_statement(), True),
        (logs_statement(service="logs.amazonaws.com"), True),
        (
            logs_statement(service=LOGS)
            | {"Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "*:aws/*"}}},
            True,
        ),
        (logs_statement() | {"Principal": "*"}, True),
        (logs_statement() | {"Action": "kms:*"}, True),
        (logs_statement() | {"Action": ["kms:GenerateDataKey", "kms:Decrypt"]}, True),
        (logs_statement() | {"Action": "kms:GenerateDataKey*"}, False),
        (logs_statement() | {"Effect": "Deny"}, False),
        (logs_statement(service="logs.eu-west-1.amazonaws.com"), False),
        (logs_statement(group="aws/spans-other"), False),
        (logs_statement() | {"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}, False),
    ],
    ids=[
        "issue-statement",
        "global-service-name",
        "arn-like",
        "star-principal",
        "kms-star",
        "exact-actions",
        "no-decrypt",
        "deny",
        "other-region-principal",
        "other-group",
        "account-root-only",
    ],
)
def test_key_policy_check_for_cloudwatch_logs(statement: dict[str, Any], allowed: bool) -> None:
    assert policy_allows_logs(key_policy(ACCOUNT, statement), REGION, SPANS_ARN) is allowed


def test_key_policy_check_refuses_what_is_not_a_policy() -> None:
    assert policy_allows_logs("not json", REGION, SPANS_ARN) is False
    assert policy_allows_logs(json.dumps({"Statement": logs_statement()}), REGION, SPANS_ARN) is True
    assert policy_allows_logs(json.dumps(["Statement"]), REGION, SPANS_ARN) is False


# --- CreateLogGroup ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [SPANS, "aws/anything"])
def test_create_log_group_refuses_the_aws_prefix(aws: LocalAWS, name: str) -> None:
    code, message, status = error_of(lambda: logs().create_log_group(logGroupName=name))

    assert (code, status) == ("InvalidParameterException", 400)
    assert "can't start with the string aws/" in message
    assert log_groups("aws/") == []


def test_create_log_group_allows_other_names_and_checks_the_key(aws: LocalAWS) -> None:
    client = logs()
    good_key = kms().create_key(Policy=key_policy(ACCOUNT, logs_statement(group="/aws/lambda/f")))["KeyMetadata"]["Arn"]

    client.create_log_group(logGroupName="/aws/lambda/f", kmsKeyId=good_key)
    denied = error_of(lambda: client.create_log_group(logGroupName="app/x", kmsKeyId=plain_key()))
    not_arn = error_of(lambda: client.create_log_group(logGroupName="app/y", kmsKeyId=good_key.split(":key/")[1]))

    assert [(g["logGroupName"], g.get("kmsKeyId")) for g in log_groups("/aws/")] == [("/aws/lambda/f", good_key)]
    assert denied[0] == "AccessDeniedException"
    assert not_arn[0] == "InvalidParameterException"
    assert log_groups("app/") == []


# --- Call log and the AWS CLI --------------------------------------------------------------------------------


def test_spans_operations_are_in_the_call_log(aws: LocalAWS) -> None:
    xray().update_trace_segment_destination(Destination="CloudWatchLogs")
    xray().get_trace_segment_destination()
    key_arn = logs_key()
    logs().associate_kms_key(logGroupName=SPANS, kmsKeyId=key_arn)
    logs().disassociate_kms_key(logGroupName=SPANS)
    logs().describe_log_groups(logGroupNamePrefix=SPANS)

    calls = [(c["service"], c["operation"], c["account"], c["region"]) for c in aws.calls()]

    assert calls == [
        ("xray", "UpdateTraceSegmentDestination", ACCOUNT, REGION),
        ("xray", "GetTraceSegmentDestination", ACCOUNT, REGION),
        ("kms", "CreateKey", ACCOUNT, REGION),
        ("logs", "AssociateKmsKey", ACCOUNT, REGION),
        ("logs", "DisassociateKmsKey", ACCOUNT, REGION),
        ("logs", "DescribeLogGroups", ACCOUNT, REGION),
    ]


@pytest.fixture
def cli(aws: LocalAWS, tmp_path: Path) -> Callable[[str], str]:
    """The AWS CLI installed beside this Python, against the session's localaws (tests/test_localaws.py runs it in
    this process)."""
    return lambda command: run_aws_cli(command, aws.endpoint_url, tmp_path)


def test_aws_cli_commands_of_issue_7_verbatim(aws: LocalAWS, cli: Callable[[str], str]) -> None:
    key_arn = logs_key()

    updated = json.loads(cli("xray update-trace-segment-destination --destination CloudWatchLogs"))
    got = json.loads(cli("xray get-trace-segment-destination"))
    associated_output = cli(f"logs associate-kms-key --log-group-name aws/spans --kms-key-id {key_arn}")
    associated = json.loads(cli("logs describe-log-groups --log-group-name-prefix aws/spans"))
    disassociated_output = cli("logs disassociate-kms-key --log-group-name aws/spans")

    assert updated == {"Destination": "CloudWatchLogs", "Status": "PENDING"}
    assert got == {"Destination": "CloudWatchLogs", "Status": "ACTIVE"}
    assert associated_output.strip() == ""
    assert [(g["logGroupName"], g.get("kmsKeyId")) for g in associated["logGroups"]] == [(SPANS, key_arn)]
    assert disassociated_output.strip() == ""
    group = spans_group()
    assert group is not None
    assert "kmsKeyId" not in group
    assert [c["operation"] for c in aws.calls()][1:-1] == [
        "UpdateTraceSegmentDestination",
        "GetTraceSegmentDestination",
        "AssociateKmsKey",
        "DescribeLogGroups",
        "DisassociateKmsKey",
    ]
