"""The local AWS world that the tests, the demo and the benchmarks act in: the people of the story (the central
team in its home account, administrators of member accounts) as AWS clients of one running localaws, and what
they do there (approved keys, X-Ray settings, the alert topic and an inbox subscribed to it).

Sessions share one botocore data loader and each person's clients are kept: a fresh boto3 Session per call
re-reads botocore's endpoint and service models (~0.15 s of CPU each time), which was about a third of the test
run. Their clients make every retry botocore decides at once, without its back-off (`_RetryAtOnce`). Nothing here
reads or writes the process environment: sessions are set up from the emulator's endpoint and
fixed offline credentials, and ``env()`` gives the standard AWS variables for code that takes an environment
mapping (``chalicelib.runtime.Container``, ``chalicelib.cli.main``, child processes).
"""

from __future__ import annotations

import functools
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Unpack

import boto3
import botocore.session
from botocore.config import Config

from chalicelib.coverage_policy import FORWARDER_ROLE, FORWARDING_RULE
from chalicelib.events import PATTERN
from chalicelib.sessions import acting_client, members_session, shared_loader
from chalicelib.spans import logs_key_statement
from chalicelib.table import TABLE_KEYS
from localaws import inprocess
from localaws.calls import CallEntry
from localaws.faults import FaultChanges
from localaws.regions import DEFAULT_REGIONS

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

CENTRAL = "123456789012"  # moto's default account: xray-guard's home, where the offline credentials act
MEMBER, MEMBER_REGION = "222222222222", "eu-west-1"  # where tests/events/*.json happen
APPROVED_ALIAS = "alias/xray-encryption"
TOPIC_NAME = "xray-guard-alerts"
CENTRAL_TABLE = "xray-guard-sweeps"  # the central table's name in infra/central.json
HOME_REGION = "us-east-1"
ADMIN_ROLE = "OrganizationAccountAccessRole"  # what Organizations creates in a new member account
OFFLINE_KEY, OFFLINE_SECRET = "testing", "testing"
REGIONS = DEFAULT_REGIONS  # the 17 Regions every account of partition aws has (localaws/regions.py)
# The central stack's responder (chalice app xray-guard, stage prod), the name XRAY_GUARD_RESPONDER_FUNCTION gives,
# in the home Region whose default bus is the central bus every forwarding rule targets.
RESPONDER = "xray-guard-prod-on_xray_encryption_change"
RESPONDER_ARN = f"arn:aws:lambda:{HOME_REGION}:{CENTRAL}:function:{RESPONDER}"
RESPONDER_RULE = "xray-guard-prod-OnXrayEncryptionChangeEvent-1A2B3C"  # chalice's template generates the suffix
CENTRAL_BUS = f"arn:aws:events:{HOME_REGION}:{CENTRAL}:event-bus/default"
EVENTS = Path(__file__).resolve().parent.parent / "tests" / "events"


def load_event(name: str) -> dict[str, Any]:
    """A real-shaped EventBridge event from tests/events/."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def console_change(serial: object) -> dict[str, Any]:
    """The console change to NONE (tests/events/console-change-to-none.json) with unique ids, as EventBridge gives
    every event: EventBridge id `eb-<serial>`, CloudTrail eventID `ct-<serial>`."""
    event = load_event("console-change-to-none.json")
    event["id"], event["detail"]["eventID"] = f"eb-{serial}", f"ct-{serial}"
    return event


def root_statement(account: str) -> dict[str, Any]:
    """The key-policy statement that lets the account's IAM policies grant use of the key (every template's first)."""
    principal = {"AWS": f"arn:aws:iam::{account}:root"}
    return {"Sid": "Root", "Effect": "Allow", "Principal": principal, "Action": "kms:*", "Resource": "*"}


def xray_statement() -> dict[str, Any]:
    """The key-policy statement that lets X-Ray use the key (infra/member-rules.yaml, AllowXRayToUseKey)."""
    return {"Sid": "AllowXRayToUseKey", "Effect": "Allow", "Principal": {"Service": "xray.amazonaws.com"},
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"}  # fmt: skip


def policy_document(*statements: dict[str, Any]) -> str:
    """A key policy holding exactly `statements`."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def key_policy(account: str, *statements: dict[str, Any]) -> str:
    """A key policy of the account: its root statement, then `statements`."""
    return policy_document(root_statement(account), *statements)


def approved_key_policy(account: str, region: str, *, logs: bool = True) -> str:
    """The member template's policy for the approved key (infra/member-rules.yaml): the account root and, unless
    `logs` is False, CloudWatch Logs for aws/spans (chalicelib.spans.logs_key_statement, substituted as in the
    aws partition)."""
    statements = [logs_key_statement("aws", region, account, "amazonaws.com")] if logs else []
    return key_policy(account, *statements)


def topic_arn(name: str = TOPIC_NAME, account: str = CENTRAL, region: str = HOME_REGION) -> str:
    return f"arn:aws:sns:{region}:{account}:{name}"


def offline_env(endpoint_url: str | None = None) -> dict[str, str]:
    """Standard AWS variables for code that must not read this machine's AWS config or credentials, pointed at
    `endpoint_url` when given."""
    env = {
        "AWS_ACCESS_KEY_ID": OFFLINE_KEY,
        "AWS_SECRET_ACCESS_KEY": OFFLINE_SECRET,
        "AWS_DEFAULT_REGION": HOME_REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    if endpoint_url is not None:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


class KeepingSession(botocore.session.Session):
    """A botocore session that builds each client on its own credentials once, and hands the same one out again.

    For the people's sessions (the central team's, and the one shared in member accounts) and the sessions code under
    test builds its clients from: each test builds its own world, responder and client factory, and a client costs
    ~3-6 ms to build (most of it copying the session's event handlers), a quarter of the suite's CPU when every test
    built its own. A client keeps no state a later test could see, but its connection pool and, in standard retry
    mode, its retry quota (botocore/retries/quota.py: a retry that ends in failure spends some, every call that
    succeeds refills it), which the suite's throttling never exhausts, and the event hooks someone registers on it
    (so tests register theirs only on clients of their own). Clients with credentials of their own (explicit keys)
    or other arguments are built anew.
    """

    def __init__(self) -> None:
        super().__init__()
        self._kept: dict[tuple[str, str | None, int], tuple[Any, Any]] = {}
        self._keeping = threading.Lock()

    def create_client(self, service_name: str, region_name: str | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        config = kwargs.pop("config", None)
        if kwargs:
            return super().create_client(service_name, region_name, config=config, **kwargs)
        key = (service_name, region_name, id(config))
        with self._keeping:
            kept = self._kept.get(key)
            if kept is None or kept[0] is not config:  # (an id is only unique among live objects: keep the config)
                kept = self._kept[key] = (config, super().create_client(service_name, region_name, config=config))
        return kept[1]


def local_session(
    endpoint_url: str | None,
    *,
    region: str = HOME_REGION,
    access_key: str | None = OFFLINE_KEY,
    secret_key: str = OFFLINE_SECRET,
    token: str | None = None,
    session: botocore.session.Session | None = None,
    app: WSGIApplication | None = None,
    back_off: bool = False,
) -> botocore.session.Session:
    """A botocore session that talks to `endpoint_url` with the given credentials, ignoring the process
    environment's AWS configuration (profile, config and credentials files, endpoint URLs). With `endpoint_url`
    None, each client names its endpoint itself (``create_client(..., endpoint_url=...)``). `session`: set up this
    new, unused session (e.g. of a subclass) instead of a plain one. `access_key` None: no credentials of its own
    (the code under test gives it its credential provider: ``ClientFactory(members=...)``). `app`: the emulator's
    WSGI app, when it runs in this process: the session's clients then call it without a socket
    (localaws.inprocess). `back_off` False: its clients make botocore's retries without waiting (`_RetryAtOnce`)."""
    session = session or botocore.session.Session()
    session.register_component("data_loader", shared_loader())  # botocore's own models: AWS_DATA_PATH is not read
    if not back_off:
        session.register("creating-client-class", _retry_at_once, unique_id="localaws-retry-at-once")
    # Session variables are overridden through the session (its instance variables come first in every lookup
    # chain); the endpoint URL is not a session variable but a config-store value each client reads
    # (botocore/args.py _compute_configured_endpoint_url), and overrides in the store win over its providers.
    session.set_config_variable("region", region)
    session.set_config_variable("config_file", os.devnull)
    session.set_config_variable("credentials_file", os.devnull)
    store = session.get_component("config_store")
    store.set_config_variable("profile", None)  # None in the store itself: AWS_PROFILE would come next in the chain
    store.set_config_variable("endpoint_url", endpoint_url)  # None: no configured endpoint at all
    if access_key is not None:
        session.set_credentials(access_key, secret_key, token)
    if app is not None:
        inprocess.connect(session, app)
    return session


def _retry_at_once(**kwargs: Any) -> None:
    """On ``creating-client-class``: mix `_RetryAtOnce` into the client class botocore is about to build."""
    kwargs["base_classes"].insert(0, _RetryAtOnce)


class _RetryAtOnce:
    """Mixed into the clients of a local session (botocore's ``creating-client-class`` event, the way boto3 adds
    methods to clients): botocore decides every retry as it always does, and the client retries at once instead of
    sleeping the back-off botocore chose.

    botocore registers its retry handler on the client's ``meta.events`` right after building the client
    (botocore/client.py `create_client` → `_register_retries`), and the endpoint sleeps for the delay the first
    ``needs-retry`` handler returns, then resends (botocore/endpoint.py `_needs_retry`: ``time.sleep(delay)``). In
    standard mode that delay is up to 1, 2, 4 ... seconds per attempt after a throttling error
    (botocore/retries/standard.py `ExponentialBackoff`): real seconds the test process sat idle (measured with a
    scratch pytest plugin wrapping `time.sleep` over the whole suite: 14.7 s, 8.7 of them in one test). The handler
    still runs, so the decision, the attempt count, the retry quota and the error raised after the last attempt are
    botocore's; only that wait is skipped. Not skipped: the waits botocore makes elsewhere (adaptive mode's token
    bucket before sending; standard mode's wait on a long-polling operation once its retry quota is spent), which
    nothing here uses. Sessions that test the wait itself pass ``back_off=True``."""

    meta: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meta.events = _RegisteringRetriesAtOnce(self.meta.events)


class _RegisteringRetriesAtOnce:
    """A client's event emitter whose ``needs-retry`` handlers answer 0 s where they answer a delay (a back-off, or
    the 0 s some handlers answer themselves: botocore's S3 region redirect, endpoint discovery); `retried_at_once`
    counts those retries."""

    def __init__(self, events: Any) -> None:
        self._events = events
        self._lock = threading.Lock()
        self.retried_at_once = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._events, name)

    def register(self, event_name: str, handler: Any, *args: Any, **kwargs: Any) -> None:
        self._events.register(event_name, self._at_once(event_name, handler), *args, **kwargs)

    def register_first(self, event_name: str, handler: Any, *args: Any, **kwargs: Any) -> None:
        self._events.register_first(event_name, self._at_once(event_name, handler), *args, **kwargs)

    def register_last(self, event_name: str, handler: Any, *args: Any, **kwargs: Any) -> None:
        self._events.register_last(event_name, self._at_once(event_name, handler), *args, **kwargs)

    def _at_once(self, event_name: str, handler: Any) -> Any:
        if event_name == "needs-retry" or event_name.startswith("needs-retry."):
            return functools.partial(self._answer_at_once, handler)
        return handler

    def _answer_at_once(self, handler: Any, **kwargs: Any) -> Any:
        delay = handler(**kwargs)  # None: no retry; False: no retry and no other handler's; a number: retry after it
        if isinstance(delay, int | float) and not isinstance(delay, bool):
            with self._lock:
                self.retried_at_once += 1
            return 0
        return delay


class _Shared:
    """What every world on one emulator shares for the whole process: the people's two botocore sessions (the central
    team's clients, kept: their offline credentials outlive every reset; and the clients they share in member
    accounts), and two sessions for code under test. A botocore session costs ~14 ms to set up and ~8 ms more for its
    first client; a further client on it ~4 ms."""

    def __init__(self, endpoint_url: str, app: WSGIApplication | None) -> None:
        self.people = local_session(endpoint_url, app=app, session=KeepingSession())
        self.code = local_session(endpoint_url, app=app, session=KeepingSession())
        self.members = local_session(endpoint_url, access_key=None, app=app, session=KeepingSession())
        # The people's clients in member accounts: one per service, region and config, each call signed with the
        # credentials of the account its wrapper is for (chalicelib.sessions.acting_client), as code under test
        # shares its member clients. Every test's world assumes its roles again (a reset forgets the credentials).
        self.people_members = members_session(
            local_session(endpoint_url, access_key=None, app=app, session=KeepingSession())
        )

    def client(self, service: str, region: str, config: Config | None) -> Any:
        """The central team's client (kept, and built one at a time, by the people's KeepingSession)."""
        return self.people.create_client(service, region_name=region, config=config)

    def member_client(self, service: str, region: str, config: Config | None) -> Any:
        """The people's shared client in member accounts (kept by its session); call it through `acting_client`."""
        return self.people_members.create_client(service, region_name=region, config=config)


@functools.cache
def _shared(endpoint_url: str, app: WSGIApplication | None = None) -> _Shared:
    return _Shared(endpoint_url, app)


class Emulator(Protocol):
    """A running localaws, in this process (``localaws.LocalAWS``) or another (``localaws.LocalAWSClient``)."""

    @property
    def endpoint_url(self) -> str: ...

    def calls(self) -> list[CallEntry]: ...

    def reset(self) -> None: ...

    def published(self, topic_arn: str) -> list[dict[str, str | None]]: ...

    def set_faults(self, **changes: Unpack[FaultChanges]) -> dict[str, object]: ...


class LocalWorld:
    """The people of the story acting on one localaws. The central team uses the offline credentials (moto's
    default account); an administrator of a member account assumes OrganizationAccountAccessRole there once.

    Clients are kept per (account, region, service, config): the central team's, and the shared clients beneath the
    member accounts' wrappers, for the whole process (register event hooks only on a client of ``session()``, which
    is a test's own); `reset` empties the emulator and forgets the assumed-role credentials and the wrappers, which
    moto forgets with it (it maps access keys to accounts through its IAM state).
    Thread-safe: the benchmarks set accounts up from several threads.
    """

    def __init__(self, emulator: Emulator, *, app: WSGIApplication | None = None) -> None:
        """`app`: the emulator's WSGI app when it runs in this process (``LocalAWS.app``): the world's sessions, the
        people's and those code under test builds its clients from, then call it without a socket
        (localaws.inprocess)."""
        self.emulator = emulator
        self._app = app
        self._lock = threading.Lock()
        self._credentials: dict[str, tuple[str, str, str | None]] = {}
        self._boto3: dict[tuple[str, str], boto3.Session] = {}
        self._clients: dict[tuple[str, str, str, int], tuple[Config | None, Any]] = {}

    @property
    def endpoint_url(self) -> str:
        return self.emulator.endpoint_url

    def env(self, **extra: str) -> dict[str, str]:
        """The standard AWS variables of a process (or an env mapping) that works in the central account here."""
        return {**offline_env(self.endpoint_url), **extra}

    def reset(self) -> None:
        """An empty emulator: moto, emulated state, call log and faults as at start; member sessions forgotten."""
        self.emulator.reset()
        with self._lock:
            self._credentials.clear()
            self._boto3.clear()
            self._clients.clear()

    # -- sessions and clients -------------------------------------------------------------------------------

    def code_session(self) -> botocore.session.Session:
        """The botocore session in the central account (region us-east-1) that code under test builds its clients
        from (``ClientFactory(base=...)``): one per emulator, shared by every responder of the process, never used
        for the world's own clients."""
        return _shared(self.endpoint_url, self._app).code

    def code_member_session(self) -> botocore.session.Session:
        """The session beside `code_session` on which code under test builds the clients it shares among member
        accounts (``ClientFactory(members=...)``), with no credentials of its own."""
        return _shared(self.endpoint_url, self._app).members

    def client(
        self, service: str, account: str = CENTRAL, region: str = HOME_REGION, *, config: Config | None = None
    ) -> Any:
        """The kept client of this person (central team or the account's administrator) for a service/region, with
        the botocore `config` given (keep it in a module constant: clients are kept by its identity).

        The central team's clients are kept for the process (per emulator endpoint): their offline credentials
        outlive every reset, so each test's world reuses them."""
        shared = _shared(self.endpoint_url, self._app)
        if account == CENTRAL:
            return shared.client(service, region, config)
        key = (account, region, service, id(config))
        with self._lock:
            kept = self._clients.get(key)
        if kept is None or kept[0] is not config:  # (an id is only unique among live objects: keep the config)
            access_key, secret_key, token = self._account_credentials(account)
            shared_client = shared.member_client(service, region, config)
            member = acting_client(shared_client, account, (access_key, secret_key, token or ""))
            with self._lock:
                kept = self._clients[key] = (config, member)
        return kept[1]

    def session(self, account: str = CENTRAL, region: str = HOME_REGION) -> boto3.Session:
        """A boto3 Session of this person in a region (kept; its clients share the process's loaded models)."""
        credentials = self._account_credentials(account)
        with self._lock:
            session = self._boto3.get((account, region))
            if session is None:
                access_key, secret_key, token = credentials
                base = local_session(
                    self.endpoint_url,
                    region=region,
                    access_key=access_key,
                    secret_key=secret_key,
                    token=token,
                    app=self._app,
                )
                session = boto3.Session(botocore_session=base)
                self._boto3[account, region] = session
        return session

    def _account_credentials(self, account: str) -> tuple[str, str, str | None]:
        if account == CENTRAL:
            return OFFLINE_KEY, OFFLINE_SECRET, None
        with self._lock:
            known = self._credentials.get(account)
        if known is not None:
            return known
        # moto's STS AssumeRole acts in the role's account: its keys map there (localaws/moto_bridge.py).
        issued = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{ADMIN_ROLE}", RoleSessionName="admin"
        )["Credentials"]
        credentials = (issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])
        with self._lock:
            return self._credentials.setdefault(account, credentials)

    # -- what the people do ---------------------------------------------------------------------------------

    def create_key(
        self, account: str = MEMBER, region: str = MEMBER_REGION, alias: str | None = APPROVED_ALIAS, **kwargs: Any
    ) -> str:
        """Steps 1-2 of the remediation guide: a symmetric key (CreateKey arguments in `kwargs`) and its alias.
        Returns the key ARN."""
        kms = self.client("kms", account, region)
        arn: str = kms.create_key(Description="X-Ray trace encryption", **kwargs)["KeyMetadata"]["Arn"]
        if alias:
            kms.create_alias(AliasName=alias, TargetKeyId=arn)
        return arn

    def create_organization(self, *names: str) -> list[str]:
        """An organization (all features) managed by the central account, with a new member account per name.
        Returns the new accounts' ids, in the order of `names`."""
        org = self.client("organizations")
        org.create_organization(FeatureSet="ALL")
        return [
            str(org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"])
            for name in names
        ]

    def create_trail(self, account: str, name: str, region: str = HOME_REGION, **options: Any) -> str:
        """A logging trail of the account's administrator (CreateTrail arguments in `options`) with the S3 bucket
        CreateTrail needs; a trail made through the API logs only once StartLogging is called. Returns its ARN."""
        bucket = f"{name}-{account}-logs".lower()
        # Outside us-east-1, S3 CreateBucket needs the Region as LocationConstraint (botocore s3 model,
        # CreateBucketConfiguration).
        where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        self.client("s3", account, region).create_bucket(Bucket=bucket, **where)
        cloudtrail = self.client("cloudtrail", account, region)
        arn: str = cloudtrail.create_trail(Name=name, S3BucketName=bucket, **options)["TrailARN"]
        cloudtrail.start_logging(Name=name)
        return arn

    def create_forwarder_role(self, account: str) -> str:
        """StackSet A's role (infra/member-roles.yaml) that EventBridge assumes to forward to the central bus.
        Returns its ARN."""
        events = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}
        trust = {"Version": "2012-10-17", "Statement": [events]}
        iam = self.client("iam", account)
        arn: str = iam.create_role(RoleName=FORWARDER_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        return arn

    def create_forwarding_rule(self, account: str, region: str, role_arn: str, name: str = FORWARDING_RULE) -> None:
        """StackSet B's rule (infra/member-rules.yaml) in one Region: the shared pattern, to the central bus, with
        the forwarder role."""
        events = self.client("events", account, region)
        events.put_rule(Name=name, EventPattern=json.dumps(PATTERN), State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "xray-guard-central", "Arn": CENTRAL_BUS, "RoleArn": role_arn}])

    def create_responder_rule(self) -> None:
        """The rule chalice's template gives the responder on the central bus: the shared pattern, to the function."""
        events = self.client("events", CENTRAL, HOME_REGION)
        events.put_rule(Name=RESPONDER_RULE, EventPattern=json.dumps(PATTERN), State="ENABLED")
        target = {"Id": "OnXrayEncryptionChangeEventLambdaTarget", "Arn": RESPONDER_ARN}
        events.put_targets(Rule=RESPONDER_RULE, Targets=[target])

    def enable_region(self, account: str, region: str) -> None:
        """The account's administrator opts the account in to an opt-in Region (account:EnableRegion, in effect at
        once here; localaws/regions.py). Enabling a default Region fails with ValidationException, as in AWS."""
        self.client("account", account).enable_region(RegionName=region)

    def create_central_table(self, name: str = CENTRAL_TABLE) -> str:
        """The central DynamoDB table (sweep fan-in, storm control, delivery records) in the home region, with the
        keys chalicelib.table reads. Returns its name."""
        self.client("dynamodb").create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **TABLE_KEYS)
        return name

    def kms(self, account: str = MEMBER, region: str = MEMBER_REGION) -> Any:
        return self.client("kms", account, region)

    def put(self, account: str = MEMBER, region: str = MEMBER_REGION, **config: str) -> None:
        """PutEncryptionConfig as the account's administrator (Type=..., KeyId=...)."""
        self.client("xray", account, region).put_encryption_config(**config)

    def encryption(self, account: str = MEMBER, region: str = MEMBER_REGION) -> dict[str, Any]:
        return dict(self.client("xray", account, region).get_encryption_config()["EncryptionConfig"])

    def create_topic(self, name: str = TOPIC_NAME) -> str:
        """The alert topic in the central account (idempotent, as SNS CreateTopic is)."""
        arn: str = self.client("sns").create_topic(Name=name)["TopicArn"]
        return arn

    def alert_inbox(self) -> tuple[str, str]:
        """The alert topic, with an SQS queue subscribed (raw) that receives the machine rendering."""
        sns, sqs = self.client("sns"), self.client("sqs")
        topic = self.create_topic()
        url = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        return topic, url

    def alerts(self, url: str) -> list[dict[str, Any]]:
        """Drain the inbox: the machine renderings received so far, oldest first."""
        sqs = self.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def published(self, topic: str | None = None) -> list[dict[str, Any]]:
        """Every message published to the topic (default: the alert topic), oldest first, with its subject:
        ``{"subject": ..., **per-protocol messages}`` for a ``MessageStructure=json`` publish, as every subscriber
        protocol (email, Chatbot, SQS) receives its own rendering."""
        out: list[dict[str, Any]] = []
        for sent in self.emulator.published(topic or topic_arn()):
            message = str(sent["message"])
            try:
                structure = json.loads(message)
            except ValueError:
                structure = None
            body = structure if isinstance(structure, dict) else {"default": message}
            out.append({"subject": sent["subject"], **body})
        return out

    def calls(self, operation: str | None = None) -> list[CallEntry]:
        """The emulator's call log so far, optionally only one operation."""
        return [c for c in self.emulator.calls() if operation is None or c["operation"] == operation]

    def ops(self) -> list[str]:
        """The call log as `service:Operation`, oldest first."""
        return [f"{c['service']}:{c['operation']}" for c in self.emulator.calls()]
