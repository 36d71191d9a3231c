"""localaws in this process without a socket (localaws.inprocess): what a client sees is what it sees over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from localaws import inprocess
from localaws.server import LocalAWS
from localaws.world import local_session
from tests.conftest import APPROVED_ALIAS, MEMBER, MEMBER_REGION, World


def both(localaws: LocalAWS, service: str, region: str = "us-east-1") -> tuple[Any, Any]:
    """A client over HTTP and one in-process, both on the central team's credentials."""
    over_http = local_session(localaws.endpoint_url).create_client(service, region_name=region)
    in_process = inprocess.connect(local_session(localaws.endpoint_url), localaws.app)
    return over_http, in_process.create_client(service, region_name=region)


def test_an_in_process_call_reaches_the_app_with_no_server_listening(world: World) -> None:
    over_http, in_process = both(world.aws, "sqs")
    in_process.create_queue(QueueName="made-in-process")
    before = len(world.calls())

    listed = over_http.list_queues(QueueNamePrefix="made-in-process")["QueueUrls"]
    again = in_process.list_queues(QueueNamePrefix="made-in-process")["QueueUrls"]

    assert listed == again  # one state, whichever way a call comes
    assert len(listed) == 1
    assert [c["operation"] for c in world.calls()[before:]] == ["ListQueues", "ListQueues"]  # both in the call log


def test_in_process_needs_no_socket() -> None:
    aws = LocalAWS(updating_seconds=0.0).start()
    over_http, in_process = both(aws, "xray")
    aws.stop()  # nothing listens on the endpoint any more

    assert in_process.get_encryption_config()["EncryptionConfig"]["Type"] == "NONE"
    with pytest.raises(EndpointConnectionError):
        over_http.get_encryption_config()


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        # JSON protocol: the error code comes from the body or the x-amzn-errortype header (looked up in lower case)
        ("kms", lambda c: c.describe_key(KeyId="alias/does-not-exist"), "NotFoundException"),
        # query protocol (XML errors)
        ("sqs", lambda c: c.get_queue_url(QueueName="no-such-queue"), "AWS.SimpleQueueService.NonExistentQueue"),
        # the emulated X-Ray (REST-JSON): a bad parameter
        ("xray", lambda c: c.put_encryption_config(Type="KMS", KeyId="alias/nope"), "InvalidRequestException"),
    ],
)
def test_errors_parse_the_same_in_process_as_over_http(world: World, service: str, call: Any, code: str) -> None:
    codes = []
    for client in both(world.aws, service):
        with pytest.raises(ClientError) as raised:
            call(client)
        codes.append(
            (raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"]["HTTPStatusCode"])
        )
    assert codes[0] == codes[1]
    assert codes[0][0] == code


def test_the_world_drives_the_member_account_in_process_with_request_ids(world: World) -> None:
    world.create_key(MEMBER, MEMBER_REGION)
    world.put(MEMBER, MEMBER_REGION, Type="KMS", KeyId=APPROVED_ALIAS)
    over_http: Any = local_session(world.endpoint_url).create_client("sts", region_name="us-east-1")

    answer = world.client("xray", MEMBER, MEMBER_REGION).get_encryption_config()

    assert answer["EncryptionConfig"]["Type"] == "KMS"
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert over_http.get_caller_identity()["Account"] != MEMBER  # the central team, over HTTP, is elsewhere
