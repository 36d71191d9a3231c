"""ClientFactory at organization scale: an account's clients and credentials are released when the audit or the sweep
is done with it, clients are built a few at a time (one build per client, not one lock for all), and the audit checks
accounts in a bounded pool with its rows in account order."""

from __future__ import annotations

import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError

from chalicelib import cli
from chalicelib.service import Responder
from chalicelib.sessions import (
    BUILDS_AT_ONCE,
    ClientFactory,
    NotActingError,
    acting_client,
    members_session,
    shared_loader,
)
from chalicelib.settings import Settings
from chalicelib.sweep import Sweeper, SweepStore, check_account
from localaws.world import console_change, local_session
from tests.conftest import APPROVED_ALIAS, CENTRAL, MEMBER, World

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2")
OTHER = "333333333333"


class Builds:
    """Counts the clients being built at the same time, on any of the sessions sharing it.

    After `expect(builds, together)`, a build waits (on a condition, never a sleep) until `together` builds, or all
    the expected ones still unfinished, are under way: builds that can overlap do overlap, however the threads are
    scheduled. A build that waits `patience` seconds in vain goes on (the test then fails on the count instead of
    hanging). Without `expect`, nothing is held back."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.together, self.left, self.patience = 1, 0, 0.0
        self.active = 0
        self.most_at_once = 0
        self.built: list[tuple[str, str]] = []

    def expect(self, builds: int, together: int, patience: float = 10.0) -> None:
        """Count anew: `builds` clients are about to be built, each held until `together` are under way."""
        with self.changed:
            self.together, self.left, self.patience, self.most_at_once = together, builds, patience, 0


class CountingSession(botocore.session.Session):
    """A botocore session whose client builds `Builds` counts."""

    def __init__(self, builds: Builds) -> None:
        super().__init__()
        self.builds = builds

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        builds = self.builds
        with builds.changed:
            builds.active += 1
            builds.most_at_once = max(builds.most_at_once, builds.active)
            builds.changed.notify_all()
            builds.changed.wait_for(lambda: builds.active >= min(builds.together, builds.left), timeout=builds.patience)
        try:
            return super().create_client(*args, **kwargs)
        finally:
            with builds.changed:
                builds.active -= 1
                builds.left -= 1
                builds.built.append((str(args[0]), str(kwargs.get("region_name"))))
                builds.changed.notify_all()


def counting_factory(world: World) -> tuple[ClientFactory, Builds]:
    builds = Builds()
    # Real back-off: the retry test needs the other accounts' calls to go out between one account's attempts.
    base = local_session(world.aws.endpoint_url, session=CountingSession(builds), back_off=True)
    members = local_session(world.aws.endpoint_url, access_key=None, session=CountingSession(builds), back_off=True)
    return ClientFactory("XRayGuardMember", base=base, members=members, home_account=CENTRAL), builds


def assume_roles(world: World) -> int:
    """How many times a role was assumed (the call log names the caller's account, not the role's)."""
    return len(world.calls("AssumeRole"))


def test_release_forgets_the_accounts_clients_and_credentials(world: World) -> None:
    factory, _ = counting_factory(world)
    first = factory.xray(MEMBER, "eu-west-1")
    other = factory.xray(OTHER, "eu-west-1")

    factory.release(MEMBER)
    again = factory.xray(MEMBER, "eu-west-1")

    assert again is not first
    assert factory.xray(OTHER, "eu-west-1") is other  # another account is untouched
    assert assume_roles(world) == 3  # MEMBER, OTHER, MEMBER again
    assert first.get_encryption_config()["EncryptionConfig"]["Type"] == "NONE"  # a released client still works
    assert again.get_encryption_config()["EncryptionConfig"]["Type"] == "NONE"


def test_member_accounts_share_one_client_per_region_and_service_each_call_made_as_its_account(
    world: World,
) -> None:
    accounts = (MEMBER, OTHER, "444444444444")
    for n, account in enumerate(accounts):
        world.create_key(account, "eu-west-1")
        if n != 1:
            world.put(account, "eu-west-1", Type="KMS", KeyId=APPROVED_ALIAS)  # OTHER keeps AWS's default (NONE)
    factory, builds = counting_factory(world)
    before = len(world.calls())

    # Many threads at once, the accounts' calls interleaved on the one shared client.
    with ThreadPoolExecutor(6) as pool:
        seen = list(
            pool.map(
                lambda account: (account, factory.xray(account, "eu-west-1").get_encryption_config()),
                accounts * 8,
            )
        )

    assert builds.built.count(("xray", "eu-west-1")) == 1
    assert len({id(factory.xray(a, "eu-west-1")) for a in accounts}) == len(accounts)  # a wrapper per account
    for account, answer in seen:
        expected = "NONE" if account == OTHER else "KMS"
        assert answer["EncryptionConfig"]["Type"] == expected, account
    signed_as = Counter(c["account"] for c in world.calls()[before:] if c["operation"] == "GetEncryptionConfig")
    assert signed_as == dict.fromkeys(accounts, 8)


def test_each_retry_is_signed_again_as_its_account_while_others_call_on_the_shared_client(world: World) -> None:
    """botocore signs every attempt anew, in the calling thread (botocore/endpoint.py `_send_request`: a new request,
    so request-created and the signer, per attempt; the back-off sleeps in that thread too). Each of OTHER's attempts
    fails with a transient error standard retries retry (botocore/retries/standard.py, _TRANSIENT_ERROR_CODES) while
    the other accounts keep calling on the same client: every attempt must still be OTHER's."""
    third = "444444444444"
    world.aws.set_faults(fail=[f"xray:GetEncryptionConfig@{OTHER}=RequestTimeoutException"])
    factory, builds = counting_factory(world)
    for account in (MEMBER, OTHER, third):
        factory.ensure_access(account)
    before = len(world.calls())
    retried = threading.Event()

    def attempts(account: str) -> int:
        answer: Any
        try:
            answer = factory.xray(account, "eu-west-1").get_encryption_config()
        except ClientError as e:
            answer = e.response
        return int(answer["ResponseMetadata"]["RetryAttempts"]) + 1

    def failing() -> Counter[str]:
        try:
            return Counter({OTHER: attempts(OTHER)})
        finally:
            retried.set()

    def meanwhile(account: str) -> Counter[str]:
        made: Counter[str] = Counter()
        while True:  # a call every 20 ms until OTHER's last attempt: between its retries, whatever their back-off
            made[account] += attempts(account)
            if retried.wait(0.02):
                return made

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(failing), pool.submit(meanwhile, MEMBER), pool.submit(meanwhile, third)]
        made = sum((future.result() for future in futures), Counter[str]())

    log = [c["account"] for c in world.calls()[before:] if c["operation"] == "GetEncryptionConfig"]
    client: Any = factory.xray(OTHER, "eu-west-1")
    assert builds.built.count(("xray", "eu-west-1")) == 1
    # The first attempt and every retry (botocore's retry handler reads total_max_attempts: botocore/client.py).
    assert made[OTHER] == client.meta.config.retries["total_max_attempts"] > 1
    assert made[MEMBER] > 0
    assert made[third] > 0
    assert Counter(log) == made  # every attempt signed as the account whose call it was
    between = log[log.index(OTHER) : len(log) - log[::-1].index(OTHER)]  # OTHER's first attempt to its last
    assert set(between) > {OTHER}  # the other accounts' calls went out between OTHER's attempts


def test_a_members_client_pages_and_waits_as_its_account(world: World) -> None:
    world.create_key(OTHER, "eu-west-1", alias="alias/only-in-other")
    factory, _ = counting_factory(world)

    aliases = [
        alias["AliasName"]
        for page in factory.kms(OTHER, "eu-west-1").get_paginator("list_aliases").paginate()
        for alias in page["Aliases"]
    ]
    mine = factory.kms(MEMBER, "eu-west-1").get_paginator("list_aliases").paginate()

    assert "alias/only-in-other" in aliases
    assert "alias/only-in-other" not in [alias["AliasName"] for page in mine for alias in page["Aliases"]]


def test_the_shared_clients_sign_nothing_outside_an_accounts_call(world: World) -> None:
    members = local_session(world.aws.endpoint_url, access_key=None)
    ClientFactory("XRayGuardMember", base=world.code_session(), members=members, home_account=CENTRAL)
    raw: Any = members.create_client("xray", region_name="eu-west-1")
    before = len(world.calls())

    with pytest.raises(NotActingError):
        raw.get_encryption_config()

    assert world.calls()[before:] == []


def test_acting_clients_over_one_shared_client_sign_with_the_credentials_given(world: World) -> None:
    """What the tests' world uses for the people's clients in member accounts."""
    raw: Any = members_session(local_session(world.aws.endpoint_url, access_key=None)).create_client(
        "sts", region_name="eu-west-1"
    )

    def assumed(account: str) -> tuple[str, str, str]:
        issued = world.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/admin", RoleSessionName="person")
        return (
            issued["Credentials"]["AccessKeyId"],
            issued["Credentials"]["SecretAccessKey"],
            issued["Credentials"]["SessionToken"],
        )

    clients = {account: acting_client(raw, account, assumed(account)) for account in (MEMBER, OTHER)}

    for account, client in clients.items():
        assert client.get_caller_identity()["Arn"] == f"arn:aws:sts::{account}:assumed-role/admin/person"
    with pytest.raises(NotActingError):
        raw.get_caller_identity()


def test_a_warm_event_responder_builds_no_clients_for_another_account(world: World) -> None:
    """A warm Lambda container of the event function answers every member account: before the shared clients it
    kept ~5 clients per account and region it had seen (a scratch run measured +1.4 MiB per account over 3 regions,
    without bound); now a region's clients serve every account."""
    accounts = (MEMBER, OTHER, "444444444444")
    for account in accounts:
        world.create_key(account, "eu-west-1")
    factory, builds = counting_factory(world)
    settings = Settings.from_env(
        {"XRAY_GUARD_KMS_KEY": APPROVED_ALIAS, "XRAY_GUARD_TOPIC_ARN": world.create_topic(), "XRAY_GUARD_MODE": "alert"}
    )
    responder = Responder(settings, factory, sleep=world.time.sleep, clock=world.time.monotonic)

    def drift_in(account: str, serial: int) -> None:
        event = console_change(serial)
        event["account"] = event["detail"]["recipientAccountId"] = account
        event["region"] = event["detail"]["awsRegion"] = "eu-west-1"
        assert responder.on_event(event)["decision"] == "drift-none"

    drift_in(MEMBER, 1)
    built_for_the_first = len(builds.built)
    drift_in(OTHER, 2)
    drift_in("444444444444", 3)

    assert built_for_the_first > 0
    assert len(builds.built) == built_for_the_first  # nothing built for the other two accounts


def test_a_members_waiter_signs_nothing(world: World) -> None:
    factory, _ = counting_factory(world)
    waiter = factory.ec2(MEMBER).get_waiter("instance_running")  # waiters are not wrapped: their calls come later
    before = len(world.calls())

    with pytest.raises(NotActingError):
        waiter.wait(InstanceIds=["i-0123456789abcdef0"])

    assert world.calls()[before:] == []


def test_a_members_session_with_credentials_of_its_own_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="credentials of its own"):
        ClientFactory("XRayGuardMember", base=world.code_session(), members=local_session(world.aws.endpoint_url))


def test_one_client_per_key_even_when_many_threads_ask_at_once(world: World) -> None:
    factory, session = counting_factory(world)
    factory.ensure_access(MEMBER)

    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(lambda _: factory.kms(MEMBER, "eu-west-1"), range(8)))

    assert all(c is clients[0] for c in clients)
    assert session.built.count(("kms", "eu-west-1")) == 1


def test_a_client_asked_through_partial_is_built_on_first_use_and_is_the_factorys_own(world: World) -> None:
    factory, session = counting_factory(world)
    logs = partial(factory.logs, MEMBER, "eu-west-1")
    ddb = partial(factory.home_dynamodb, "us-east-1")
    assert [built for built in session.built if built[0] in {"logs", "dynamodb"}] == []  # nothing built yet

    with ThreadPoolExecutor(4) as pool:
        tables = list(pool.map(lambda _: ddb(), range(4)))

    assert all(t is tables[0] for t in tables)
    assert tables[0] is factory.home_dynamodb("us-east-1")  # the cache: release() reaches it
    assert logs() is factory.logs(MEMBER, "eu-west-1")
    assert (session.built.count(("dynamodb", "us-east-1")), session.built.count(("logs", "eu-west-1"))) == (1, 1)


def test_member_clients_are_built_a_few_at_a_time_home_clients_one_at_a_time(world: World) -> None:
    factory, session = counting_factory(world)
    factory.ensure_access(MEMBER)  # builds the STS client: the base session is set up (warm) from here on
    factory.xray(MEMBER, "us-east-1")  # the members session's first client, built alone: warm too
    session.expect(len(REGIONS), together=BUILDS_AT_ONCE)

    with ThreadPoolExecutor(len(REGIONS)) as pool:
        list(pool.map(lambda region: factory.logs(MEMBER, region), REGIONS))
    member_at_once = session.most_at_once
    session.expect(len(REGIONS), together=2, patience=0.02)  # each waits a moment for a second the lock keeps out
    with ThreadPoolExecutor(len(REGIONS)) as pool:
        list(pool.map(lambda region: factory.logs(CENTRAL, region), REGIONS))

    assert member_at_once == BUILDS_AT_ONCE > 1  # regions no longer wait behind one lock, and the bound holds
    assert session.most_at_once == 1


def set_up(world: World, accounts: tuple[str, ...]) -> None:
    for account in accounts:
        for region in REGIONS:
            world.create_key(account, region)
            world.put(account, region, Type="KMS", KeyId=APPROVED_ALIAS)


def test_check_accounts_releases_every_account_and_keeps_account_order(world: World) -> None:
    accounts = (MEMBER, OTHER, "444444444444", "555555555555", "666666666666")
    set_up(world, accounts)
    topic, _ = world.alert_inbox()
    responder = world.responder(topic, XRAY_GUARD_MODE="alert", XRAY_GUARD_REGIONS=",".join(REGIONS))
    world.aws.app.calls.clear()

    checked = list(cli.check_accounts(responder, list(accounts), parallel=3))
    during = assume_roles(world)
    responder.clients.ensure_access(MEMBER)

    assert [account for account, _ in checked] == list(accounts)
    assert all([r["account"] for r in rows] == [account] * len(REGIONS) for account, rows in checked)
    assert all(r["verdict"] == "compliant" for _, rows in checked for r in rows)
    assert during == len(accounts)  # each account's role assumed once while it was checked ...
    assert assume_roles(world) == during + 1  # ... and nothing kept afterwards


def test_check_accounts_reports_an_unreachable_account_in_its_place(world: World) -> None:
    set_up(world, (MEMBER, OTHER))
    world.aws.set_faults(fail=[f"sts:AssumeRole@{OTHER}=AccessDenied"])
    topic, _ = world.alert_inbox()
    responder = world.responder(topic, XRAY_GUARD_MODE="alert", XRAY_GUARD_REGIONS=",".join(REGIONS))

    checked = dict(cli.check_accounts(responder, [OTHER, MEMBER], parallel=2))

    assert [r["verdict"] for r in checked[OTHER]] == ["error"]
    assert [r["verdict"] for r in checked[MEMBER]] == ["compliant"] * len(REGIONS)


@pytest.mark.parametrize("sinks", ["sns", "sns,securityhub"])
def test_the_sweep_releases_the_account_it_checked(world: World, sinks: str) -> None:
    set_up(world, (MEMBER,))
    for region in REGIONS:
        world.enable_security_hub(region=region)
    topic, _ = world.alert_inbox()
    responder = world.responder(
        topic, XRAY_GUARD_MODE="alert", XRAY_GUARD_REGIONS=",".join(REGIONS), XRAY_GUARD_SINKS=sinks
    )
    store = SweepStore(lambda: world.client("dynamodb"), world.create_central_table())
    store.begin("s-1", 2)
    sweeper = Sweeper(responder, store, world.client("sqs"), "unused", new_id=lambda: "s-1")
    world.aws.app.calls.clear()

    sweeper.sweep_account('{"sweep_id": "s-1", "account": "222222222222"}')
    # Security Hub's imports are made in the member account, with the credentials of its one AssumeRole.
    imports = world.ops().count("securityhub:BatchImportFindings")
    assert imports == (len(REGIONS) if "securityhub" in sinks else 0)
    assert assume_roles(world) == 1
    check_account(responder, MEMBER)

    assert assume_roles(world) == 2  # the second check had to assume the role again


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_parallel_must_be_a_positive_whole_number(world: World, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["audit", "--parallel", value], env=world.env())

    assert exited.value.code == cli.EXIT_ERROR
    assert "--parallel" in capsys.readouterr().err
    assert world.calls() == []


def test_the_shared_loader_reads_a_data_path_as_botocore_does_and_lists_each_search_path_once() -> None:
    """One loader per data path for the whole process; its entries expanded as botocore's create_loader expands
    AWS_DATA_PATH (~ and $VARs); and the data directory every boto3.Session appends to its session's loader listed
    once however many sessions share it."""
    home = os.path.expanduser("~")
    data_path = os.pathsep.join(["~/xray-guard-models", "$HOME/more-models"])
    loader = shared_loader(data_path)
    assert shared_loader(data_path) is loader
    assert shared_loader() is not loader
    assert loader.search_paths[:2] == [f"{home}/xray-guard-models", f"{home}/more-models"]

    paths = []
    for _ in range(3):
        session = botocore.session.Session()
        session.register_component("data_loader", loader)
        boto3.Session(botocore_session=session)  # appends boto3's data directory to the loader's search paths
        paths.append(list(loader.search_paths))
    assert paths[0] == paths[1] == paths[2]
    assert any(path.endswith("boto3/data") for path in paths[0])
