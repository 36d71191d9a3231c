"""localaws.world, the one local AWS world of the tests, the demo and the benchmarks: its people act in the right
accounts, keep their sessions until a reset, ignore the process environment; localaws serves what SNS accepted;
moto's key pairs are made on first use and still sign and verify."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from chalicelib.sessions import CLIENT_CONFIG
from localaws import LocalAWS, LocalAWSClient
from localaws.world import CENTRAL, MEMBER, MEMBER_REGION, LocalWorld, local_session, offline_env, topic_arn
from tests.conftest import World

ROOT = Path(__file__).parents[1]


def test_an_admin_acts_in_the_member_account_and_assumes_its_role_once(world: World) -> None:
    world.create_key(MEMBER, MEMBER_REGION)
    world.put(MEMBER, MEMBER_REGION, Type="KMS", KeyId="alias/xray-encryption")
    config = world.encryption(MEMBER, MEMBER_REGION)

    calls = [(c["operation"], c["account"], c["region"]) for c in world.calls()]
    assert calls == [
        ("AssumeRole", CENTRAL, "us-east-1"),
        ("CreateKey", MEMBER, MEMBER_REGION),
        ("CreateAlias", MEMBER, MEMBER_REGION),
        ("PutEncryptionConfig", MEMBER, MEMBER_REGION),
        ("GetEncryptionConfig", MEMBER, MEMBER_REGION),
    ]
    assert config["KeyId"].startswith(f"arn:aws:kms:{MEMBER_REGION}:{MEMBER}:key/")


def test_the_central_team_acts_in_the_home_account_without_assuming_a_role(world: World) -> None:
    world.create_key(CENTRAL, "us-east-1")

    assert [(c["operation"], c["account"]) for c in world.calls()] == [("CreateKey", CENTRAL), ("CreateAlias", CENTRAL)]


def test_after_a_reset_an_admin_assumes_the_role_again_and_still_acts_in_the_member_account(world: World) -> None:
    world.create_key(MEMBER, MEMBER_REGION)
    world.reset()  # moto forgets the assumed-role keys: kept ones would map to the default account
    world.create_key(MEMBER, MEMBER_REGION)

    calls = [(c["operation"], c["account"]) for c in world.calls()]
    assert calls == [("AssumeRole", CENTRAL), ("CreateKey", MEMBER), ("CreateAlias", MEMBER)]


def test_boto3_sessions_are_kept_per_account_and_region(world: World) -> None:
    member = world.session(MEMBER, MEMBER_REGION)

    assert world.session(MEMBER, MEMBER_REGION) is member
    assert world.session(MEMBER, "us-east-1") is not member
    assert member.client("sts").get_caller_identity()["Account"] == MEMBER
    assert member.region_name == MEMBER_REGION


def test_published_returns_each_protocol_rendering_with_the_subject(world: World) -> None:
    topic = world.create_topic()
    sns = world.client("sns")
    rendering = {"default": "chat", "email": "Dear team", "sqs": json.dumps({"k": "v"})}
    sns.publish(TopicArn=topic, Subject="drift", Message=json.dumps(rendering), MessageStructure="json")
    sns.publish(TopicArn=topic, Message="plain")

    assert world.published() == [{"subject": "drift", **rendering}, {"subject": None, "default": "plain"}]
    assert world.published(topic_arn("no-such-topic")) == []


def test_published_over_http_answers_the_messages_and_refuses_what_is_not_a_topic_arn(world: World) -> None:
    topic = world.create_topic()
    world.client("sns").publish(TopicArn=topic, Subject="s", Message="m")
    control = LocalAWSClient(world.aws.endpoint_url)

    [sent] = control.published(topic)
    with pytest.raises(RuntimeError, match="400"):
        control.published("arn:aws:sqs:us-east-1:123456789012:not-a-topic")

    assert (sent["subject"], sent["message"]) == ("s", "m")
    assert sent["message_id"]


@pytest.mark.parametrize(
    ("spec", "algorithm"), [("RSA_2048", "RSASSA_PSS_SHA_256"), ("ECC_NIST_P256", "ECDSA_SHA_256")]
)
def test_deferred_key_pairs_sign_verify_and_give_their_public_key(world: World, spec: str, algorithm: str) -> None:
    kms = world.kms(CENTRAL, "us-east-1")
    key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]

    signature = kms.sign(KeyId=key, Message=b"trace", SigningAlgorithm=algorithm)["Signature"]
    valid = kms.verify(KeyId=key, Message=b"trace", Signature=signature, SigningAlgorithm=algorithm)["SignatureValid"]
    public = load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])

    assert valid is True
    assert isinstance(public, rsa.RSAPublicKey) == (spec == "RSA_2048")


def test_the_worlds_clients_make_every_retry_botocore_decides_without_its_back_off(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The people's and the code's clients, in botocore's retry modes (the default standard one, legacy, and standard
    as xray-guard configures it): throttled on every attempt, they make all the attempts botocore's retry handler
    decides and then raise; botocore sleeps 0 s before each retry (its own log line says for how long), and the
    client counts each retry it made at once."""
    world.aws.set_faults(throttle_rate=1.0)
    legacy = Config(retries={"mode": "legacy"})
    clients = [  # attempts: botocore/retries/standard.py DEFAULT_MAX_ATTEMPTS, botocore/data/_retry.json, 1 + 6
        (world.client("xray", MEMBER, MEMBER_REGION), 3),
        (world.client("xray", MEMBER, MEMBER_REGION, config=legacy), 5),
        (world.client("xray", MEMBER, MEMBER_REGION, config=CLIENT_CONFIG), 7),
        (world.code_session().create_client("xray", "eu-west-1", config=CLIENT_CONFIG), 7),
    ]
    for client, attempts in clients:
        before = client.meta.events.retried_at_once
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="botocore.endpoint"), pytest.raises(ClientError) as raised:
            client.get_encryption_config()

        assert raised.value.response["Error"]["Code"] == "ThrottledException"  # X-Ray's (botocore xray model)
        assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == attempts - 1
        assert client.meta.events.retried_at_once - before == attempts - 1
        assert [r.args for r in caplog.records if r.msg.startswith("Response received to retry")] == [(0,)] * (
            attempts - 1
        )
    assert len(world.calls("GetEncryptionConfig")) == 3 + 5 + 7 + 7


def test_a_session_that_backs_off_waits_the_delay_botocore_chose(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.aws.set_faults(throttle_rate=1.0)
    session = local_session(world.aws.endpoint_url, back_off=True)
    client: Any = session.create_client(
        "xray", "eu-west-1", config=Config(retries={"mode": "standard", "total_max_attempts": 2})
    )

    with caplog.at_level(logging.DEBUG, logger="botocore.endpoint"), pytest.raises(ClientError):
        client.get_encryption_config()

    [(slept,)] = [tuple(r.args or ()) for r in caplog.records if r.msg.startswith("Response received to retry")]
    assert isinstance(slept, float)
    assert 0 < slept <= 1  # standard mode, a throttling error: rand(0, 1) × 1 s before the first retry
    assert not hasattr(client.meta.events, "retried_at_once")


def test_the_world_ignores_the_process_aws_environment(localaws: LocalAWS) -> None:
    """A hostile AWS environment (unknown profile, dead endpoint, wrong keys) changes nothing for the world."""
    hostile = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_PROFILE": "no-such-profile",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "wrong",
        "AWS_SECRET_ACCESS_KEY": "wrong",
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "PYTHONPATH": str(ROOT),
    }
    code = (
        "import sys\n"
        "from localaws import LocalAWSClient\n"
        "from localaws.world import LocalWorld\n"
        "world = LocalWorld(LocalAWSClient(sys.argv[1]))\n"
        "print(world.client('sts').get_caller_identity()['Account'])\n"
        "print(world.session('222222222222', 'eu-west-1').client('sts').get_caller_identity()['Account'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, localaws.endpoint_url],
        env=hostile,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [CENTRAL, MEMBER]


def test_env_is_the_offline_variables_pointed_at_the_emulator(world: World) -> None:
    env = world.env(XRAY_GUARD_MODE="alert")

    assert env == {**offline_env(world.aws.endpoint_url), "XRAY_GUARD_MODE": "alert"}
    assert env["AWS_ENDPOINT_URL"] == world.aws.endpoint_url


def test_a_world_over_http_drives_a_localaws_it_does_not_host(world: World) -> None:
    remote = LocalWorld(LocalAWSClient(world.aws.endpoint_url))

    remote.create_key(MEMBER, MEMBER_REGION)

    assert [c["operation"] for c in world.calls()] == ["AssumeRole", "CreateKey", "CreateAlias"]
