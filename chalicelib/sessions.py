"""The one place that builds AWS clients: standard retries, the user-agent marker, an assume-role cache, and one
client per region and service shared by every member account.

Endpoints come from the standard AWS_ENDPOINT_URL variable (botocore reads it), nothing custom.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import botocore.credentials
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.configprovider import (
    BOTOCORE_DEFAUT_SESSION_VARIABLES,
    ConfigChainFactory,
    ConfiguredEndpointProvider,
)
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import USER_AGENT_MARKER
from chalicelib.errors import AwsCallError

if TYPE_CHECKING:
    from mypy_boto3_account import AccountClient
    from mypy_boto3_cloudtrail import CloudTrailClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_securityhub import SecurityHubClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_xray import XRayClient

CLIENT_CONFIG = Config(
    user_agent_extra=USER_AGENT_MARKER,
    retries={"mode": "standard", "max_attempts": 6},
    connect_timeout=5,
    read_timeout=15,
    max_pool_connections=32,
)
ASSUME_ROLE_SESSION_NAME = "xray-guard"
_REFRESH_MARGIN_SECONDS = 300.0
# Clients built at the same time by one factory. Building is pure CPU under one interpreter lock, so more at once
# buy no speed, and each build in flight holds its transient memory: bench/audit.py and bench/memory.py measured a
# sweep_account invocation (17 regions) at 83 MiB peak with builds one at a time, 90 with two, ~140 with seventeen,
# and the audit's wall time the same for all three.
BUILDS_AT_ONCE = 2

# The AWS calls made in the current decision, for its log line (one list per check, per thread).
_calls: ContextVar[list[str] | None] = ContextVar("xray_guard_calls", default=None)


@contextmanager
def recording_calls() -> Iterator[list[str]]:
    """Collect "service:Operation" for every AWS call made inside the block (in this thread)."""
    calls: list[str] = []
    token = _calls.set(calls)
    try:
        yield calls
    finally:
        _calls.reset(token)


def _record_call(model: Any, **_: Any) -> None:
    calls = _calls.get()
    if calls is not None:
        calls.append(f"{model.service_model.endpoint_prefix}:{model.name}")


@dataclass(frozen=True)
class _Credentials:
    account: str
    access_key: str
    secret_key: str
    token: str
    expires_at: float


class NotActingError(RuntimeError):
    """A member client signed a request outside a call made for an account (a bug in the caller, never AWS's)."""


# The member account a thread acts for during one call through a _MemberClient, as its assumed-role credentials.
_acting: ContextVar[_Credentials | None] = ContextVar("xray_guard_acting", default=None)
_ACTING_METHOD = "custom-xray-guard-member-account"


class _ActingCredentials(botocore.credentials.Credentials):
    """The credentials object of every shared member client: the credentials of the account the calling thread acts
    for, read when botocore signs a request.

    botocore asks a client's credentials object for frozen credentials each time it signs a request, in the thread
    making the call (`RequestSigner.get_auth_instance` in botocore/signers.py: `credentials.get_frozen_credentials()`;
    refreshable credentials refresh through this same call). So one client per region and service can serve every
    member account, each call signed as the account its `_MemberClient` is for. Outside such a call no account is
    set, and signing fails instead of guessing one.

    `account_id` (the attribute) stays None: it feeds account-based endpoints (botocore/args.py,
    EPRBuiltins.ACCOUNT_ID), which only the endpoint rule sets of DynamoDB, DynamoDB Streams, Kinesis and EventBridge's
    newer `eventbridgev2` API declare (AWS::Auth::AccountId in botocore/data/*/*/endpoint-rule-set-1.json), and
    member accounts are called for none of them.
    """

    def __init__(self) -> None:
        super().__init__("", "", method=_ACTING_METHOD)

    def get_frozen_credentials(self) -> botocore.credentials.ReadOnlyCredentials:
        acting = _acting.get()
        if acting is None:
            raise NotActingError("a shared member client was called outside an account's call: nothing is signed")
        return botocore.credentials.ReadOnlyCredentials(
            acting.access_key, acting.secret_key, acting.token, acting.account
        )


class _ActingProvider(botocore.credentials.CredentialProvider):
    METHOD = _ACTING_METHOD
    CANONICAL_NAME = _ACTING_METHOD

    def load(self) -> _ActingCredentials:
        return _ActingCredentials()


def members_session(session: botocore.session.Session) -> botocore.session.Session:
    """The session, its clients signing as the account the calling thread acts for (see _ActingCredentials). It
    must be new or already such a session: credentials it resolved before would be used instead."""
    session.register_component(
        "credential_provider", botocore.credentials.CredentialResolver(providers=[_ActingProvider()])
    )
    if not isinstance(session.get_credentials(), _ActingCredentials):
        raise ValueError("the members session already has credentials of its own: pass a new session")
    return session


def _session_like(base: botocore.session.Session) -> botocore.session.Session:
    """A new session configured as `base`, for the member clients: the environment-bound kind is rebuilt from its
    environment; any other must be given (ClientFactory's `members`)."""
    if isinstance(base, _EnvSession):
        return _EnvSession(base.env)
    raise TypeError("ClientFactory(base=...): also pass members=, a new session configured like base")


class _MemberClient:
    """One member account's client: the region's shared client for the service, every call made as the account.

    Attribute access is the shared client's (`meta`, `exceptions`, the operations); each operation and paginator call
    runs with the account's current credentials (`credentials()`: assumed again when near expiry), set for the
    duration of that call in the calling thread only, so threads acting for different accounts at once never see
    each other's. Waiters are not wrapped (nothing here waits on a member account): a waiter's calls would come after
    the call that made it, and fail with NotActingError."""

    def __init__(self, shared: Any, credentials: Callable[[], _Credentials]) -> None:
        self._shared = shared
        self._credentials = credentials

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._shared, name)
        if name == "get_paginator":
            return partial(self._as_account, lambda operation: _MemberPaginator(attribute(operation), self._as_account))
        if not callable(attribute):
            return attribute
        return partial(self._as_account, attribute)

    def close(self) -> None:
        """Nothing to close: the shared client stays open for the other accounts (the factory owns it)."""

    def _as_account(self, method: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        token = _acting.set(self._credentials())
        try:
            return method(*args, **kwargs)
        finally:
            _acting.reset(token)


def acting_client(shared: Any, account: str, credentials: tuple[str, str, str]) -> Any:
    """One account's client over `shared`, a client of a members session (`members_session`): every call it makes is
    signed with `credentials` (access key, secret key, session token), as ClientFactory's member clients are with the
    credentials it assumed. For callers that hold an account's credentials themselves (the tests' world, for the
    people it plays); nothing refreshes them."""
    fixed = _Credentials(account, *credentials, expires_at=math.inf)
    return _MemberClient(shared, lambda: fixed)


class _MemberPaginator:
    """A member client's paginator. `paginate` returns every page at once (a list): botocore's page iterator calls
    AWS as it is iterated, which could be after the account's call has ended."""

    def __init__(self, inner: Any, as_account: Callable[..., Any]) -> None:
        self._inner, self._as_account = inner, as_account

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        pages: list[dict[str, Any]] = self._as_account(lambda: list(self._inner.paginate(**kwargs)))
        return pages

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ClientFactory:
    """Clients per (account, region), assuming `member_role` in accounts other than the home account.

    Assumed-role credentials are cached per account until five minutes before they expire. The home account's
    clients are its own, one per region and service. Member accounts share one client per region and service, built
    on the `members` session, and each account gets a light `_MemberClient` over it that makes every call as that
    account (see `_ActingCredentials`): an organization's thousandth account costs an AssumeRole and its calls, not
    another ~70 client builds. `release(account)`, which an audit or sweep calls when it is done with an account,
    forgets its credentials and wrappers, so memory does not grow with the number of accounts. Thread-safe: regions
    and accounts are checked concurrently, and clients are built concurrently too (one build per key; see `_make`).

    A shared client's standard-mode retry quota (botocore/retries/quota.py: retries that end in failure spend it,
    calls that succeed refill it) is the region and service's, not one account's: when calls fail in many accounts
    of one region at once, later accounts' calls there stop being retried until calls succeed again: a regional
    outage fails fast instead of multiplying its back-off by the number of accounts.

    Adapters that may never call AWS take a client as a zero-argument function,
    `functools.partial(clients.logs, account, region)`: no client is built until one is needed (a cold start that
    never counts a drift pays for no DynamoDB client), and asking again is a look-up in this factory's cache.

    `base` None: botocore's default session (the process environment), and another for `members`. An
    environment-bound session (`session_from_env`) gets its `members` session from the same environment; any other
    `base` needs `members`: a new session configured like it.
    """

    def __init__(
        self,
        member_role: str,
        *,
        base: botocore.session.Session | None = None,
        members: botocore.session.Session | None = None,
        region: str | None = None,
        home_account: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # botocore directly, not boto3: boto3 would add s3transfer and its imports to every cold start.
        if base is None:
            base = with_shared_loader(botocore.session.get_session())
            members = members or with_shared_loader(botocore.session.get_session())
        self._base = base
        self._members = members_session(members or _session_like(base))
        self._region: str = region or self._base.get_config_variable("region") or "us-east-1"
        self._member_role = member_role
        self._home_account = home_account
        self._caller: tuple[str, str] | None = None
        self._clock = clock
        self._lock = threading.Lock()  # guards the dictionaries below; never held while AWS or botocore works
        self._home_lock = threading.Lock()  # clients on the base session's own credentials are built one by one
        self._members_lock = threading.Lock()  # the members session's first client is built alone
        self._members_warm = threading.Event()
        self._builds = threading.BoundedSemaphore(BUILDS_AT_ONCE)
        self._credentials: dict[str, _Credentials] = {}
        # Home clients and members' wrappers by (account, region, service); shared member clients by
        # (_SHARED, region, service).
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._building: dict[tuple[str, str, str], Future[Any]] = {}

    def home_account(self) -> str:
        """The account xray-guard runs in (from the Lambda context, else one sts:GetCallerIdentity)."""
        if self._home_account is None:
            self._home_account, _ = self._identity()
        return self._home_account

    def caller_arn(self) -> str:
        """The ARN of the identity the base session acts as (the audit's operator: a user, or an assumed-role
        session), from the same sts:GetCallerIdentity answer that gives the home account."""
        _, arn = self._identity()
        return arn

    def _identity(self) -> tuple[str, str]:
        """The base session's account and ARN: one sts:GetCallerIdentity per factory, kept."""
        if self._caller is None:
            sts = self._make("sts", self._region, self._base)
            identity = _call("sts", "GetCallerIdentity", sts.get_caller_identity)
            self._caller = (identity["Account"], identity["Arn"])
        return self._caller

    @property
    def region(self) -> str:
        """The region of the base session (where STS and the home account's services are called)."""
        return self._region

    @property
    def partition(self) -> str:
        """The partition of the home region, as ARNs name it (aws, aws-us-gov, aws-cn)."""
        return self.partition_of(self._region)

    def partition_of(self, region: str) -> str:
        """The partition of any region (aws, aws-us-gov, aws-cn, ...), from botocore's endpoint data."""
        partition: str = self._base.get_partition_for_region(region)
        return partition

    def ensure_access(self, account: str) -> None:
        """Assume the member role now (cached), so an unreachable account fails as a whole, not per region."""
        self._session(account)

    def release(self, account: str) -> None:
        """Forget the account's credentials and clients.

        For callers done with an account (the audit and the sweep, after its last region). A later request for the
        account assumes the role again (so does a call through a client kept from before). Releasing the home account
        closes its clients' connections; a member account's calls share clients that stay open for the others.
        """
        with self._lock:
            keys = [key for key in self._clients if key[0] == account]
            released = [self._clients.pop(key) for key in keys]
            self._credentials.pop(account, None)
        for client in released:
            client.close()

    def xray(self, account: str, region: str) -> XRayClient:
        client: XRayClient = self._client(account, region, "xray")
        return client

    def kms(self, account: str, region: str) -> KMSClient:
        client: KMSClient = self._client(account, region, "kms")
        return client

    def logs(self, account: str, region: str) -> CloudWatchLogsClient:
        client: CloudWatchLogsClient = self._client(account, region, "logs")
        return client

    def events(self, account: str, region: str) -> EventBridgeClient:
        client: EventBridgeClient = self._client(account, region, "events")
        return client

    def cloudtrail(self, account: str, region: str) -> CloudTrailClient:
        client: CloudTrailClient = self._client(account, region, "cloudtrail")
        return client

    def securityhub(self, account: str, region: str) -> SecurityHubClient:
        client: SecurityHubClient = self._client(account, region, "securityhub")
        return client

    # Global services, called in the home region: botocore's endpoint rule sets send IAM, Organizations and Account
    # Management calls to their partition's one endpoint and signing region whatever the client's region
    # (botocore/data/{iam,organizations,account}/*/endpoint-rule-set-1.json). EC2 DescribeRegions is regional but
    # lists the account's enabled Regions of the partition from any of them.

    def iam(self, account: str) -> IAMClient:
        client: IAMClient = self._client(account, self._region, "iam")
        return client

    def account(self, account: str) -> AccountClient:
        client: AccountClient = self._client(account, self._region, "account")
        return client

    def ec2(self, account: str) -> EC2Client:
        client: EC2Client = self._client(account, self._region, "ec2")
        return client

    def organizations(self) -> OrganizationsClient:
        """The organization as the home account sees it (xray-guard runs in the management or a delegated account)."""
        client: OrganizationsClient = self._client(self.home_account(), self._region, "organizations")
        return client

    def home_sns(self, region: str) -> SNSClient:
        client: SNSClient = self._client(self.home_account(), region, "sns")
        return client

    def home_sqs(self, region: str) -> SQSClient:
        client: SQSClient = self._client(self.home_account(), region, "sqs")
        return client

    def home_dynamodb(self, region: str) -> DynamoDBClient:
        client: DynamoDBClient = self._client(self.home_account(), region, "dynamodb")
        return client

    def _client(self, account: str, region: str, service: str) -> Any:
        if account == self.home_account():
            return self._cached((account, region, service), lambda: self._make(service, region, self._base))
        self._session(account)  # assume the role now: an unreachable account fails when asked for a client
        key = (account, region, service)
        with self._lock:
            member = self._clients.get(key)
        if member is None:
            shared = self._cached((_SHARED, region, service), lambda: self._make(service, region, self._members))
            member = _MemberClient(shared, partial(self._current, account))
            with self._lock:
                member = self._clients.setdefault(key, member)
        return member

    def _cached(self, key: tuple[str, str, str], build: Callable[[], Any]) -> Any:
        """The client kept under `key`, built once: threads asking while it is built wait for it and share it."""
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                return client
            pending = self._building.get(key)
            building = pending is None
            if pending is None:
                pending = self._building[key] = Future()
        if not building:
            return pending.result()  # another thread is building this very client: share it
        try:
            client = build()
        except BaseException as e:
            with self._lock:
                del self._building[key]
            pending.set_exception(e)
            raise
        with self._lock:
            del self._building[key]
            self._clients[key] = client
        pending.set_result(client)
        return client

    def _current(self, account: str) -> _Credentials:
        credentials = self._session(account)
        assert credentials is not None  # a member account's, never the home account's
        return credentials

    def _session(self, account: str) -> _Credentials | None:
        """Credentials for the account: None for the home account (the base session's own)."""
        if account == self.home_account():
            return None
        with self._lock:
            cached = self._credentials.get(account)
            if cached and cached.expires_at - _REFRESH_MARGIN_SECONDS > self._clock():
                return cached
        fresh = self._assume(account)
        with self._lock:
            self._credentials[account] = fresh
        return fresh

    def _assume(self, account: str) -> _Credentials:
        role_arn = f"arn:{self.partition}:iam::{account}:role/{self._member_role}"
        sts = self._client(self.home_account(), self._region, "sts")
        response = _call(
            "sts",
            "AssumeRole",
            lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName=ASSUME_ROLE_SESSION_NAME),
        )
        creds = response["Credentials"]
        return _Credentials(
            account,
            creds["AccessKeyId"],
            creds["SecretAccessKey"],
            creds["SessionToken"],
            creds["Expiration"].timestamp(),
        )

    def _make(self, service: str, region: str, session: botocore.session.Session) -> Any:
        """A new client from the base session (the home account's) or the members session; at most BUILDS_AT_ONCE
        are built at the same time.

        botocore does not document `Session.create_client` as thread-safe: a session sets up its components
        (endpoint resolver, credential provider, ...) lazily, on its first client. So each session's first client
        is built alone, and so is every client on the base session's own credentials (resolving them may run a
        credential process or an SSO refresh). Later member clients are built concurrently: what they share then is
        read-only, except the user-agent feature list, which only feeds AWS's SDK metrics.
        """
        if session is self._base:
            with self._builds, self._home_lock:
                return self._create(session, service, region)
        if not self._members_warm.is_set():
            with self._members_lock:
                if not self._members_warm.is_set():
                    client = self._create(session, service, region)
                    self._members_warm.set()
                    return client
        with self._builds:
            return self._create(session, service, region)

    def _create(self, session: botocore.session.Session, service: str, region: str) -> Any:
        client = session.create_client(service, region_name=region, config=CLIENT_CONFIG)
        # By id: a session that hands out a client it built before (the tests' world keeps them) gets one hook, not two.
        client.meta.events.register("before-call", _record_call, unique_id="xray-guard-record-call")
        return client


_SHARED = "shared"  # the account part of a shared member client's key (no account id is a word)


def _call(service: str, operation: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except ClientError as e:
        error = e.response.get("Error", {})
        raise AwsCallError(service, operation, error.get("Code", "Unknown"), error.get("Message", "")) from e
    except BotoCoreError as e:
        raise AwsCallError(service, operation, type(e).__name__, str(e)) from e


call_aws = _call

_loaders: dict[str | None, botocore.loaders.Loader] = {}
_loaders_lock = threading.Lock()


class _SearchPaths(list[str]):
    """A shared loader's search paths. Every boto3.Session over a botocore session appends boto3's data directory to
    its loader's list (boto3/session.py `_setup_loader`); with one loader behind every session the list would grow
    by one per session, and each model lookup that misses the cache lists every path."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def shared_loader(data_path: str | None = None) -> botocore.loaders.Loader:
    """The process's one botocore data loader for `data_path` (the session variable; None: botocore's own data):
    every session built on it (an audit's, a container's runtime, each test's and the local world's) parses the
    endpoint and service models once."""
    with _loaders_lock:
        loader = _loaders.get(data_path)
        if loader is None:
            # As botocore's create_loader reads AWS_DATA_PATH (botocore/loaders.py): ~ and $VARs expanded.
            entries = data_path.split(os.pathsep) if data_path else []
            paths = _SearchPaths(os.path.expanduser(os.path.expandvars(entry)) for entry in entries)
            loader = _loaders[data_path] = botocore.loaders.Loader(extra_search_paths=paths)
    return loader


def with_shared_loader(session: botocore.session.Session) -> botocore.session.Session:
    """The session, reading botocore's endpoint and service models through the process's shared loader for its data
    path (AWS_DATA_PATH or the config's data_path, as the session reads them)."""
    session.register_component("data_loader", shared_loader(session.get_config_variable("data_path")))
    return session


def paginate(client: Any, service: str, operation: str, method: str, **kwargs: Any) -> list[dict[str, Any]]:
    """All pages of a paginated call (botocore's paginator), with errors mapped like any other call."""
    pages: list[dict[str, Any]] = _call(
        service, operation, lambda: list(client.get_paginator(method).paginate(**kwargs))
    )
    return pages


def session_from_env(env: Mapping[str, str]) -> botocore.session.Session:
    """A botocore session that reads the standard AWS variables from `env` instead of the process environment.

    The audit command takes its environment as a parameter (so it can be tested without touching os.environ); with
    `env=os.environ` this is botocore's default session. Bound to `env`: every session configuration variable
    (region, profile, config and credentials files, retries, ...), endpoint URLs (AWS_ENDPOINT_URL and the
    per-service AWS_ENDPOINT_URL_<SERVICE>), credentials from the environment (AWS_ACCESS_KEY_ID, ...,
    AWS_CREDENTIAL_EXPIRATION), container credentials, and AWS_EC2_METADATA_DISABLED. botocore reads the
    web-identity variables (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE) from the process environment itself.
    """
    return _EnvSession(env)


class _EnvSession(botocore.session.Session):
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        super().__init__()
        chains = ConfigChainFactory(session=self, environ=self._env)
        store = self.get_component("config_store")
        for name, (config_key, env_vars, default, conversion) in BOTOCORE_DEFAUT_SESSION_VARIABLES.items():
            chain = chains.create_config_chain(
                instance_name=name,
                env_var_names=env_vars,
                config_property_names=config_key,
                default=default,
                conversion_func=conversion,
            )
            store.set_config_provider(name, chain)
        self.register_component("credential_provider", self._env_credential_resolver())
        with_shared_loader(self)

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    def _env_credential_resolver(self) -> botocore.credentials.CredentialResolver:
        resolver = botocore.credentials.create_credential_resolver(self)
        imds_disabled = self._env.get("AWS_EC2_METADATA_DISABLED", "false").lower() == "true"
        providers: list[Any] = []
        for provider in resolver.providers:
            if isinstance(provider, botocore.credentials.EnvProvider):
                provider.environ = self._env  # the same object serves profiles' credential_source=Environment
                providers.append(provider)
            elif isinstance(provider, botocore.credentials.ContainerProvider):
                providers.append(botocore.credentials.ContainerProvider(environ=self._env))
            elif isinstance(provider, botocore.credentials.OriginalEC2Provider):
                providers.append(botocore.credentials.OriginalEC2Provider(environ=self._env))
            elif isinstance(provider, botocore.credentials.BotoProvider):
                providers.append(botocore.credentials.BotoProvider(environ=self._env))
            elif not (isinstance(provider, botocore.credentials.InstanceMetadataProvider) and imds_disabled):
                providers.append(provider)
        return botocore.credentials.CredentialResolver(providers=providers)

    def _add_configured_endpoint_provider(self, client_name: str, config_store: Any) -> None:
        # botocore builds this provider per client with os.environ; the same provider, bound to the given env.
        provider = ConfiguredEndpointProvider(
            full_config=self.full_config,
            scoped_config=self.get_scoped_config(),
            client_name=client_name,
            environ=self._env,
        )
        config_store.set_config_provider(logical_name="endpoint_url", provider=provider)
