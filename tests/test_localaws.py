"""Tests of localaws, the local AWS: boto3 and the AWS CLI against a real localaws server on a free port."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import awscli.clidriver
import boto3
import pytest
from botocore.config import Config

from chalicelib.sessions import with_shared_loader
from localaws import FailRule, FaultSettings, LocalAWS, LocalAWSClient, start_subprocess
from localaws.world import local_session
from tests.helpers import NO_RETRIES, error_of

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sts.type_defs import CredentialsTypeDef
    from mypy_boto3_xray import XRayClient

DEFAULT_ACCOUNT = "123456789012"
OTHER_ACCOUNT = "222222222222"
THIRD_ACCOUNT = "333333333333"
UPDATING_SECONDS = 5.0


class FakeClock:
    """A monotonic clock the tests move by hand, so UPDATING -> ACTIVE needs no real waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def server(clock: FakeClock) -> Iterator[LocalAWS]:
    with LocalAWS(updating_seconds=UPDATING_SECONDS, clock=clock) as aws:
        yield aws


@pytest.fixture
def aws(server: LocalAWS) -> LocalAWS:
    server.reset()
    return server


def session(credentials: CredentialsTypeDef | None = None, region: str = "us-east-1") -> boto3.Session:
    """A session with these credentials (default: the offline ones, one session per region for the module: this
    module built 76 of the suite's 272 sessions, at ~16 ms of CPU each, counted over `pytest -n 0` with a scratch
    plugin wrapping `botocore.session.Session.__init__`); clients name this module's server."""
    if credentials is None:
        return _offline_session(region)
    base = local_session(
        None,
        region=region,
        access_key=credentials["AccessKeyId"],
        secret_key=credentials["SecretAccessKey"],
        token=credentials["SessionToken"],
    )
    return boto3.Session(botocore_session=base)


@functools.cache
def _offline_session(region: str) -> boto3.Session:
    return boto3.Session(botocore_session=local_session(None, region=region))


def xray(aws: LocalAWS, credentials: CredentialsTypeDef | None = None, region: str = "us-east-1") -> XRayClient:
    return session(credentials, region).client("xray", endpoint_url=aws.endpoint_url)


def kms(aws: LocalAWS, credentials: CredentialsTypeDef | None = None, region: str = "us-east-1") -> KMSClient:
    return session(credentials, region).client("kms", endpoint_url=aws.endpoint_url)


def assume(aws: LocalAWS, account: str) -> CredentialsTypeDef:
    sts = session().client("sts", endpoint_url=aws.endpoint_url)
    role_arn = f"arn:aws:iam::{account}:role/xray-guard"
    return sts.assume_role(RoleArn=role_arn, RoleSessionName="tests")["Credentials"]


def create_key(client: KMSClient, alias: str | None = None) -> tuple[str, str]:
    """A symmetric key (and alias); returns (key id, key ARN)."""
    metadata = client.create_key(Description="X-Ray trace encryption")["KeyMetadata"]
    if alias:
        client.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
    return metadata["KeyId"], metadata["Arn"]


# --- X-Ray encryption config -------------------------------------------------------------------------------


def test_never_configured_is_default_encryption_without_key(aws: LocalAWS) -> None:
    config = xray(aws).get_encryption_config()["EncryptionConfig"]

    assert config == {"Type": "NONE", "Status": "ACTIVE"}


@pytest.mark.parametrize("reference", ["alias", "key_id", "key_arn", "alias_arn"])
def test_put_kms_reports_key_arn_updating_then_active(aws: LocalAWS, clock: FakeClock, reference: str) -> None:
    key_id, key_arn = create_key(kms(aws), alias="alias/xray-encryption")
    key_ref = {
        "alias": "alias/xray-encryption",
        "key_id": key_id,
        "key_arn": key_arn,
        "alias_arn": f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:alias/xray-encryption",
    }[reference]
    client = xray(aws)

    put = client.put_encryption_config(Type="KMS", KeyId=key_ref)["EncryptionConfig"]
    during = client.get_encryption_config()["EncryptionConfig"]
    clock.advance(UPDATING_SECONDS)
    after = client.get_encryption_config()["EncryptionConfig"]

    assert put == {"Type": "KMS", "KeyId": key_arn, "Status": "UPDATING"}
    assert during == {"Type": "KMS", "KeyId": key_arn, "Status": "UPDATING"}
    assert after == {"Type": "KMS", "KeyId": key_arn, "Status": "ACTIVE"}


def test_put_none_returns_to_default_through_updating(aws: LocalAWS, clock: FakeClock) -> None:
    create_key(kms(aws), alias="alias/xray-encryption")
    client = xray(aws)
    client.put_encryption_config(Type="KMS", KeyId="alias/xray-encryption")

    put = client.put_encryption_config(Type="NONE")["EncryptionConfig"]
    clock.advance(UPDATING_SECONDS)
    after = client.get_encryption_config()["EncryptionConfig"]

    assert put == {"Type": "NONE", "Status": "UPDATING"}
    assert after == {"Type": "NONE", "Status": "ACTIVE"}


def test_status_turns_active_on_the_real_clock() -> None:
    with LocalAWS(updating_seconds=0.05) as aws:
        aws.reset()
        _, key_arn = create_key(kms(aws), alias="alias/xray-encryption")
        client = xray(aws)
        client.put_encryption_config(Type="KMS", KeyId="alias/xray-encryption")
        deadline = time.monotonic() + 5.0
        while (config := client.get_encryption_config()["EncryptionConfig"])["Status"] != "ACTIVE":
            assert time.monotonic() < deadline, config
            time.sleep(0.02)

    assert config == {"Type": "KMS", "KeyId": key_arn, "Status": "ACTIVE"}


def unknown_alias(client: KMSClient) -> str:
    return "alias/does-not-exist"


def unknown_key_id(client: KMSClient) -> str:
    return str(uuid.uuid4())


def disabled_key_alias(client: KMSClient) -> str:
    key_id, _ = create_key(client, alias="alias/disabled")
    client.disable_key(KeyId=key_id)
    return "alias/disabled"


def key_pending_deletion(client: KMSClient) -> str:
    key_id, _ = create_key(client)
    client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    return key_id


def asymmetric_key(client: KMSClient) -> str:
    return client.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]


def hmac_key(client: KMSClient) -> str:
    return client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]


@pytest.mark.parametrize(
    ("make_key", "reason"),
    [
        (unknown_alias, "does not exist"),
        (unknown_key_id, "does not exist"),
        (disabled_key_alias, "is disabled"),
        (key_pending_deletion, "is pending deletion"),
        (asymmetric_key, "does not support asymmetric"),
        (hmac_key, "not a symmetric encryption key"),
    ],
)
def test_put_rejects_keys_xray_cannot_use(aws: LocalAWS, make_key: Callable[[KMSClient], str], reason: str) -> None:
    key_ref = make_key(kms(aws))

    code, message, status = error_of(lambda: xray(aws).put_encryption_config(Type="KMS", KeyId=key_ref))

    assert code == "InvalidRequestException"
    assert status == 400
    assert reason in message
    assert xray(aws).get_encryption_config()["EncryptionConfig"] == {"Type": "NONE", "Status": "ACTIVE"}


def put_unchecked(client: XRayClient, encryption_type: str, key_id: str | None) -> None:
    """PutEncryptionConfig with values the type stubs would refuse (botocore does not check enums)."""
    if key_id is None:
        client.put_encryption_config(Type=encryption_type)  # type: ignore[arg-type]
    else:
        client.put_encryption_config(Type=encryption_type, KeyId=key_id)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("encryption_type", "key_id", "reason"),
    [
        ("NONE", "alias/aws/xray", "KeyId must be omitted"),
        ("KMS", None, "KeyId is required"),
        ("AES", None, "Type must be KMS or NONE"),
    ],
)
def test_put_rejects_inconsistent_type_and_key(
    aws: LocalAWS, encryption_type: str, key_id: str | None, reason: str
) -> None:
    client = xray(aws)

    code, message, _ = error_of(lambda: put_unchecked(client, encryption_type, key_id))

    assert code == "InvalidRequestException"
    assert reason in message


def test_state_is_separate_per_account_and_region(aws: LocalAWS, clock: FakeClock) -> None:
    other = assume(aws, OTHER_ACCOUNT)
    _, other_key_arn = create_key(kms(aws, other), alias="alias/xray-encryption")

    xray(aws, other).put_encryption_config(Type="KMS", KeyId="alias/xray-encryption")
    clock.advance(UPDATING_SECONDS)

    assert xray(aws, other).get_encryption_config()["EncryptionConfig"] == {
        "Type": "KMS",
        "KeyId": other_key_arn,
        "Status": "ACTIVE",
    }
    assert other_key_arn.startswith(f"arn:aws:kms:us-east-1:{OTHER_ACCOUNT}:key/")
    assert xray(aws, other, region="eu-west-1").get_encryption_config()["EncryptionConfig"]["Type"] == "NONE"
    assert xray(aws).get_encryption_config()["EncryptionConfig"]["Type"] == "NONE"


def test_alias_names_resolve_in_the_callers_own_account(aws: LocalAWS) -> None:
    create_key(kms(aws, assume(aws, OTHER_ACCOUNT)), alias="alias/xray-encryption")

    code, _, _ = error_of(lambda: xray(aws).put_encryption_config(Type="KMS", KeyId="alias/xray-encryption"))

    assert code == "InvalidRequestException"


@pytest.mark.parametrize("reference", ["key_arn", "alias_arn"])
def test_arn_names_a_key_in_another_account(aws: LocalAWS, reference: str) -> None:
    central = assume(aws, OTHER_ACCOUNT)
    _, central_key_arn = create_key(kms(aws, central, region="eu-west-1"), alias="alias/org-xray")
    key_ref = {
        "key_arn": central_key_arn,
        "alias_arn": f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:alias/org-xray",
    }[reference]

    put = xray(aws).put_encryption_config(Type="KMS", KeyId=key_ref)["EncryptionConfig"]

    assert put["KeyId"] == central_key_arn


def test_aws_managed_xray_key_is_created_on_first_use(aws: LocalAWS) -> None:
    put = xray(aws).put_encryption_config(Type="KMS", KeyId="alias/aws/xray")["EncryptionConfig"]
    metadata = kms(aws).describe_key(KeyId="alias/aws/xray")["KeyMetadata"]

    assert metadata["KeyManager"] == "AWS"
    assert put["KeyId"] == metadata["Arn"]


def test_describe_key_of_aws_xray_alias_reports_aws_managed_before_any_put(aws: LocalAWS) -> None:
    first = kms(aws).describe_key(KeyId="alias/aws/xray")["KeyMetadata"]
    put = xray(aws).put_encryption_config(Type="KMS", KeyId="alias/aws/xray")["EncryptionConfig"]

    assert first["KeyManager"] == "AWS"
    assert put["KeyId"] == first["Arn"]


# --- Faults -------------------------------------------------------------------------------------------------


def test_throttle_rate_one_answers_each_services_throttling_error(aws: LocalAWS) -> None:
    aws.set_faults(throttle_rate=1.0)
    xray_client = session().client("xray", endpoint_url=aws.endpoint_url, config=NO_RETRIES)
    kms_client = session().client("kms", endpoint_url=aws.endpoint_url, config=NO_RETRIES)

    xray_code, _, xray_status = error_of(xray_client.get_encryption_config)
    kms_code, _, kms_status = error_of(kms_client.list_keys)
    identity = session().client("sts", endpoint_url=aws.endpoint_url).get_caller_identity()

    assert (xray_code, xray_status) == ("ThrottledException", 429)
    assert (kms_code, kms_status) == ("ThrottlingException", 400)
    assert identity["Account"] == DEFAULT_ACCOUNT
    throttled = [(call["service"], call["operation"]) for call in aws.calls() if call.get("fault") == "throttled"]
    assert ("xray", "GetEncryptionConfig") in throttled
    assert ("kms", "ListKeys") in throttled


def test_partial_throttling_is_absorbed_by_standard_retries(aws: LocalAWS) -> None:
    aws.set_faults(throttle_rate=0.3)
    retrying = Config(retries={"max_attempts": 8, "mode": "standard"})
    xray_client = session().client("xray", endpoint_url=aws.endpoint_url, config=retrying)
    kms_client = session().client("kms", endpoint_url=aws.endpoint_url, config=retrying)

    configs = [xray_client.get_encryption_config()["EncryptionConfig"] for _ in range(6)]
    key_lists = [kms_client.list_keys()["Keys"] for _ in range(6)]

    assert configs == [{"Type": "NONE", "Status": "ACTIVE"}] * 6
    assert key_lists == [[]] * 6
    assert any(call.get("fault") == "throttled" for call in aws.calls())


def test_fail_rule_answers_sns_authorization_error(aws: LocalAWS) -> None:
    aws.set_faults(fail=["sns:Publish"])
    sns = session().client("sns", endpoint_url=aws.endpoint_url)
    topic_arn = sns.create_topic(Name="xray-guard-findings")["TopicArn"]

    code, _, status = error_of(lambda: sns.publish(TopicArn=topic_arn, Message="drift"))

    assert (code, status) == ("AuthorizationError", 403)


def test_fail_rule_for_assume_role_matches_the_account_entered(aws: LocalAWS) -> None:
    aws.set_faults(fail=[f"sts:AssumeRole@{OTHER_ACCOUNT}"])

    code, _, status = error_of(lambda: assume(aws, OTHER_ACCOUNT))
    entered = assume(aws, THIRD_ACCOUNT)

    assert (code, status) == ("AccessDenied", 403)
    identity = session(entered).client("sts", endpoint_url=aws.endpoint_url).get_caller_identity()
    assert identity["Account"] == THIRD_ACCOUNT


def test_fail_rules_from_the_constructor_with_own_codes_and_caller_accounts() -> None:
    fail = [
        "xray:PutEncryptionConfig",
        f"xray:GetEncryptionConfig@{OTHER_ACCOUNT}",
        "kms:ListKeys=DisabledException",
    ]
    with LocalAWS(fail=fail) as aws:
        aws.reset()
        other = assume(aws, OTHER_ACCOUNT)

        put_code, _, put_status = error_of(lambda: xray(aws).put_encryption_config(Type="NONE"))
        other_get_code, _, _ = error_of(xray(aws, other).get_encryption_config)
        own_get = xray(aws).get_encryption_config()
        kms_code, _, kms_status = error_of(kms(aws).list_keys)

    assert (put_code, put_status) == ("AccessDeniedException", 403)
    assert other_get_code == "AccessDeniedException"
    assert own_get["EncryptionConfig"]["Type"] == "NONE"
    assert (kms_code, kms_status) == ("DisabledException", 400)


def test_latency_is_added_to_aws_calls(aws: LocalAWS) -> None:
    aws.set_faults(latency_ms=150)
    sts = session().client("sts", endpoint_url=aws.endpoint_url)

    started = time.monotonic()
    sts.get_caller_identity()
    elapsed = time.monotonic() - started

    assert elapsed >= 0.150


def test_faults_endpoint_replaces_given_fields_and_reset_restores_start_settings(aws: LocalAWS) -> None:
    control = LocalAWSClient(aws.endpoint_url)

    first = control.set_faults(latency_ms=5, fail=["sns:Publish"])
    second = control.set_faults(throttle_rate=0.5)
    with pytest.raises(RuntimeError, match="throttle_rate"):
        control.set_faults(throttle_rate=2.0)
    control.reset()

    assert first == {
        "latency_ms": 5.0,
        "throttle_rate": 0.0,
        "updating_seconds": UPDATING_SECONDS,
        "fail": ["sns:Publish"],
        "seed": 0,
        "no_transaction_search": [],
    }
    assert second == {**first, "throttle_rate": 0.5}
    assert aws.app.faults.settings == FaultSettings(updating_seconds=UPDATING_SECONDS)


def test_fail_spec_syntax() -> None:
    rule = FailRule.parse("sts:AssumeRole@222222222222=AccessDenied")

    assert rule == FailRule("sts", "AssumeRole", "222222222222", "AccessDenied")
    assert str(rule) == "sts:AssumeRole@222222222222=AccessDenied"
    assert FailRule.parse("sns:Publish") == FailRule("sns", "Publish")
    with pytest.raises(ValueError, match="bad fail spec"):
        FailRule.parse("sns.Publish")


def test_settings_from_environment_name_the_bad_variable() -> None:
    env = {
        "LOCALAWS_LATENCY_MS": "20",
        "LOCALAWS_THROTTLE_RATE": "0.1",
        "LOCALAWS_UPDATING_SECONDS": "30",
        "LOCALAWS_FAIL": "sns:Publish, sts:AssumeRole@222222222222",
        "LOCALAWS_SEED": "7",
    }

    settings = FaultSettings.from_env(env)

    assert settings == FaultSettings(
        latency_ms=20.0,
        throttle_rate=0.1,
        updating_seconds=30.0,
        fail=(FailRule("sns", "Publish"), FailRule("sts", "AssumeRole", OTHER_ACCOUNT)),
        seed=7,
    )
    with pytest.raises(ValueError, match="LOCALAWS_THROTTLE_RATE"):
        FaultSettings.from_env({"LOCALAWS_THROTTLE_RATE": "often"})


# --- Call log, concurrency (Regions: tests/test_localaws_regions.py) ----------------------------------------


def test_call_log_names_service_operation_account_and_region(aws: LocalAWS) -> None:
    other = assume(aws, OTHER_ACCOUNT)
    xray(aws, other, region="eu-west-1").get_encryption_config()
    session().client("sns", endpoint_url=aws.endpoint_url).list_topics()
    session().client("ec2", endpoint_url=aws.endpoint_url).describe_regions()
    s3 = session().client("s3", endpoint_url=aws.endpoint_url)
    s3.create_bucket(Bucket="xray-guard-artifacts")
    s3.list_objects_v2(Bucket="xray-guard-artifacts")
    session().client("account", endpoint_url=aws.endpoint_url).list_regions()

    calls = aws.calls()
    aws.reset()

    assert calls == [
        {"service": "sts", "operation": "AssumeRole", "account": DEFAULT_ACCOUNT, "region": "us-east-1"},
        {
            "service": "xray",
            "operation": "GetEncryptionConfig",
            "account": OTHER_ACCOUNT,
            "region": "eu-west-1",
        },
        {"service": "sns", "operation": "ListTopics", "account": DEFAULT_ACCOUNT, "region": "us-east-1"},
        {"service": "ec2", "operation": "DescribeRegions", "account": DEFAULT_ACCOUNT, "region": "us-east-1"},
        {"service": "s3", "operation": "CreateBucket", "account": DEFAULT_ACCOUNT, "region": "us-east-1"},
        {"service": "s3", "operation": "ListObjectsV2", "account": DEFAULT_ACCOUNT, "region": "us-east-1"},
        {"service": "account", "operation": "ListRegions", "account": DEFAULT_ACCOUNT, "region": "us-east-1"},
    ]
    assert LocalAWSClient(aws.endpoint_url).calls() == []


def test_serves_a_few_hundred_concurrent_requests(aws: LocalAWS) -> None:
    many = Config(max_pool_connections=200)
    xray_client = session().client("xray", endpoint_url=aws.endpoint_url, config=many)
    sts = session().client("sts", endpoint_url=aws.endpoint_url, config=many)

    with ThreadPoolExecutor(max_workers=200) as pool:
        configs = list(pool.map(lambda _: xray_client.get_encryption_config()["EncryptionConfig"], range(200)))
        accounts = list(pool.map(lambda _: sts.get_caller_identity()["Account"], range(100)))

    assert configs == [{"Type": "NONE", "Status": "ACTIVE"}] * 200
    assert accounts == [DEFAULT_ACCOUNT] * 100
    assert len(aws.calls()) == 300


# --- python -m localaws and the AWS CLI ---------------------------------------------------------------------


def run_aws_cli(command: str, endpoint_url: str, tmp_path: Path, *, executable: bool = False) -> str:
    """One of the guide's commands, verbatim, through the AWS CLI installed beside this Python: the code its ``aws``
    executable runs (``awscli.clidriver.main``: ``create_clidriver().main(argv)``), in this process, with the
    environment below in ``os.environ`` for the command's duration; with `executable`, that ``aws`` executable itself
    in a process of its own, as the README has users run it. A new process per command costs its interpreter and
    imports again: measured side by side (scratch, three commands against one localaws), 941 ms of CPU per command in
    a process of its own, 335-353 ms in this one. The CLI's session reads botocore's models through the process's
    shared loader (each new session parsed endpoints.json again: ~0.3 s of CPU per command). The CLI's logger is
    restored afterwards (each command sets it up again and adds a handler)."""
    env = {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }
    if executable:
        clean = {name: value for name, value in os.environ.items() if name not in {"AWS_PROFILE", "AWS_SESSION_TOKEN"}}
        argv = [str(Path(sys.executable).parent / "aws"), *shlex.split(command)]
        result = subprocess.run(argv, env=clean | env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return result.stdout
    cli_logger = logging.getLogger("awscli")
    handlers, level = list(cli_logger.handlers), cli_logger.level
    out, err = io.StringIO(), io.StringIO()
    try:
        with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            for name, value in env.items():
                mp.setenv(name, value)
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
                mp.delenv(name, raising=False)
            try:
                driver = awscli.clidriver.create_clidriver()
                with_shared_loader(driver.session)  # models and endpoints from the process's loader, parsed once
                code = driver.main(shlex.split(command))
            except SystemExit as exit_:  # argparse's way of refusing arguments
                code = exit_.code
    finally:
        cli_logger.handlers[:], cli_logger.level = handlers, level
    assert code == 0, err.getvalue()
    return out.getvalue()


def test_aws_cli_runs_the_guides_commands_against_python_m_localaws(tmp_path: Path) -> None:
    process, endpoint_url = start_subprocess(updating_seconds=0)
    try:
        created = json.loads(
            run_aws_cli(
                'kms create-key --description "X-Ray trace encryption" '
                "--tags TagKey=purpose,TagValue=xray-encryption --region us-east-1",
                endpoint_url,
                tmp_path,
            )
        )
        key_id = created["KeyMetadata"]["KeyId"]
        run_aws_cli(
            f"kms create-alias --alias-name alias/xray-encryption --target-key-id {key_id} --region us-east-1",
            endpoint_url,
            tmp_path,
        )
        put = json.loads(
            run_aws_cli(
                "xray put-encryption-config --type KMS --key-id alias/xray-encryption --region us-east-1",
                endpoint_url,
                tmp_path,
            )
        )
        # The last one as users run it: the aws executable in .venv/bin, a process of its own.
        got = json.loads(
            run_aws_cli("xray get-encryption-config --region us-east-1", endpoint_url, tmp_path, executable=True)
        )
        calls = LocalAWSClient(endpoint_url).calls()
    finally:
        process.terminate()
        exit_code = process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()

    key_arn = created["KeyMetadata"]["Arn"]
    assert endpoint_url.startswith("http://127.0.0.1:")
    assert put["EncryptionConfig"] == {"Type": "KMS", "KeyId": key_arn, "Status": "UPDATING"}
    assert got["EncryptionConfig"] == {"Type": "KMS", "KeyId": key_arn, "Status": "ACTIVE"}
    assert [call["operation"] for call in calls] == [
        "CreateKey",
        "CreateAlias",
        "PutEncryptionConfig",
        "GetEncryptionConfig",
    ]
    assert exit_code == 0
