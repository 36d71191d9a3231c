"""The one place where localaws touches moto internals (moto is pinned to 5.2.5 for this reason).

Everything else in localaws speaks HTTP to moto's WSGI app or calls the functions below. What is used:

- ``moto.moto_server.werkzeug_app``: the WSGI app and request handler that ``moto_server`` itself runs.
- ``moto.iam.models.get_account_id_from``: how moto maps an access key to an account (keys minted by moto's
  STS AssumeRole are registered in the *target* account's IAM backend, so they map there).
- ``moto.kms.models.kms_backends`` and ``moto.kms.utils.RESERVED_ALIASES``: to look up KMS keys for X-Ray and
  to create AWS managed keys (``alias/aws/xray``) lazily; and the attributes of moto's ``Key`` that its own
  responses render (``key_state``, ``enabled``, ``deletion_date``, ``key_rotation_status``, ``policy``), which
  ``localaws.kms`` sets for the key lifecycle operations moto 5.2.5 gets wrong.
- ``moto.logs.models.logs_backends``: log groups, which X-Ray creates (``aws/spans``) and whose ``kms_key_id``
  CloudWatch Logs ``AssociateKmsKey``/``DisassociateKmsKey`` (absent from moto 5.2.5) set; moto's
  ``DescribeLogGroups`` renders that attribute as ``kmsKeyId``.
- ``moto.securityhub.models.securityhub_backends``: only the ``enabled`` flag that moto's own
  ``EnableSecurityHub``/``DisableSecurityHub`` set, so that ``localaws.securityhub`` (which serves the findings
  operations itself) knows whether Security Hub is on in an account and region.
- ``moto.cloudtrail.models.cloudtrail_backends``: the trails of an account in every region (moto's ``Trail``:
  ``trail_name``, ``region_name``, ``arn``, ``is_multi_region``, ``is_org_trail``, ``event_selectors``,
  ``advanced_event_selectors``, and its own renderings ``description()`` and ``status.description()``), which
  ``localaws.cloudtrail`` shows as AWS shows them to member accounts.
- ``moto.organizations.models.organizations_backends``: which accounts belong to the organization an account
  manages (``org``, ``accounts``, each with ``id`` and ``status``).
- ``moto.kms.models.generate_private_key``: what moto's ``Key.__init__`` calls for the key pair of every key;
  localaws defers it to first use (see ``defer_key_pairs``).
- ``moto.sns.models.sns_backends``: each topic's ``sent_notifications``, served as ``GET /_localaws/published``
  so that the demo and the tests read what was published without reaching into moto themselves.
- ``moto.events.models.EventPattern``: moto's EventBridge pattern matcher (what its ``PutEvents`` routes by), for
  tests that check an event pattern against real-shaped events without a bus.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import moto.kms.models
import moto.kms.utils
from moto.cloudtrail.models import cloudtrail_backends
from moto.events.models import EventPattern
from moto.iam.models import get_account_id_from
from moto.kms.models import kms_backends
from moto.kms.utils import RESERVED_ALIASES
from moto.logs.models import logs_backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.organizations.models import organizations_backends
from moto.securityhub.models import securityhub_backends
from moto.sns.models import sns_backends

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

# moto creates reserved-alias keys lazily and without a lock; one lock here keeps two concurrent first uses of
# alias/aws/xray from minting two keys.
_managed_key_lock = threading.Lock()


def create_moto_app() -> WSGIApplication:
    """moto's own server app (all services), as ``moto_server`` builds it, with two savings that change no answer:
    key pairs made on first use (``defer_key_pairs``) and the backend of each host remembered (``_Dispatcher``)."""
    defer_key_pairs()
    app: WSGIApplication = _Dispatcher(create_backend_app)
    return app


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves each host.

    For every request, moto 5.2.5's ``DomainDispatcherApplication.get_application`` calls
    ``get_backend_for_host``, which tries the URL patterns of every backend in turn (hundreds of regular
    expressions) while holding the dispatcher's one lock. The answer depends only on the host and on those fixed
    patterns, so it is computed once per host.
    """

    def __init__(self, create_app: Any) -> None:
        super().__init__(create_app)
        self._backend_of: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host in self._backend_of:
            return self._backend_of[host]
        backend = super().get_backend_for_host(host)
        self._backend_of[host] = backend
        return backend


_make_key_pair = moto.kms.utils.generate_private_key


class _DeferredKeyPair(moto.kms.utils.AbstractPrivateKey):
    """moto's key pair of one KMS key, made when moto first uses it (Sign, Verify, GetPublicKey)."""

    def __init__(self, key_spec: str) -> None:
        self._key_spec = key_spec
        self._pair: moto.kms.utils.AbstractPrivateKey | None = None
        self._lock = threading.Lock()

    def _made(self) -> moto.kms.utils.AbstractPrivateKey:
        with self._lock:
            if self._pair is None:
                self._pair = _make_key_pair(self._key_spec)
            return self._pair

    def sign(self, message: bytes, signing_algorithm: str) -> bytes:
        return self._made().sign(message, signing_algorithm)

    def verify(self, message: bytes, signature: bytes, signing_algorithm: str) -> bool:
        return self._made().verify(message, signature, signing_algorithm)

    def public_key(self) -> bytes:
        return self._made().public_key()


def defer_key_pairs() -> None:
    """Make moto create a key's key pair on first use instead of in CreateKey.

    moto 5.2.5's ``Key.__init__`` generates a key pair for every key, a 2048-bit RSA one for
    ``SYMMETRIC_DEFAULT`` too (``moto.kms.utils.generate_private_key``): about 0.1 s of CPU per CreateKey, which
    tests, the demo and the benchmarks create by the hundred. moto reads ``Key.private_key`` only in Sign, Verify
    and GetPublicKey, so creating it then answers every request exactly as before. Idempotent.
    """
    moto.kms.models.generate_private_key = _DeferredKeyPair  # type: ignore[attr-defined]  # moto's own import


@dataclass(frozen=True)
class Notification:
    """One message SNS accepted for a topic, as published: ``message`` is the Publish request's ``Message`` (with
    ``MessageStructure=json``, the JSON object of per-protocol messages)."""

    message_id: str
    subject: str | None
    message: str


def published(topic_arn: str) -> list[Notification]:
    """Every message published to a topic so far, oldest first (moto's ``Topic.sent_notifications``); empty when
    there is no such topic."""
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[2] != "sns":
        raise ValueError(f"not an SNS topic ARN: {topic_arn!r}")
    region, account = parts[3], parts[4]
    try:
        topic = sns_backends[account][region].topics.get(topic_arn)
    except KeyError:  # a region moto does not know: no topic can live there
        return []
    if topic is None:
        return []
    return [Notification(str(sent[0]), sent[2], str(sent[1])) for sent in list(topic.sent_notifications)]


def event_pattern_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether an EventBridge event pattern matches an event, as moto's event buses decide it."""
    matched: bool = EventPattern(json.dumps(pattern), pattern).matches_event(cast("Any", event))
    return matched


class QuietRequestHandler(MotoRequestHandler):
    """moto's request handler (it keeps header spellings S3 needs), minus one log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Request lines would flood the output of tests and benchmarks; errors are still logged."""


def account_for(access_key: str | None, account_header: str | None = None) -> str:
    """The account a request acts in, decided as moto decides it for its own services.

    Mirrors ``moto.core.responses.BaseResponse.get_current_account`` (moto 5.2.5): the ``MOTO_ACCOUNT_ID``
    environment variable, then the ``x-moto-account-id`` header (``account_header``), then the access key via
    ``moto.iam.models.get_account_id_from`` (default account 123456789012 for unknown keys).
    """
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if account_header:
        return account_header
    # moto's fallback key when a request carries none (BaseResponse.get_access_key).
    return str(get_account_id_from(access_key or "AKIAEXAMPLE"))


@dataclass(frozen=True)
class KmsKey:
    """What localaws needs to know about a KMS key (``deletion_date`` in seconds since the epoch)."""

    arn: str
    key_id: str
    key_state: str
    key_spec: str
    key_usage: str
    key_manager: str
    origin: str
    policy: str
    rotation_enabled: bool
    deletion_date: float | None


@dataclass(frozen=True)
class KeyLocation:
    """Where a KMS key reference points: its account, region and the id or alias name within them."""

    account: str
    region: str
    ref: str

    @classmethod
    def parse(cls, key_ref: str, account: str, region: str) -> KeyLocation:
        """A key id or alias name stays in the caller's account and region; an ARN names its own.

        Source: botocore data/xray/2016-04-12/service-2.json, PutEncryptionConfigRequest.KeyId ("ARN ... Use
        this format to specify a key in a different account").
        """
        parts = key_ref.split(":", 5)
        if len(parts) == 6 and parts[0] == "arn" and parts[2] == "kms":
            return cls(account=parts[4], region=parts[3], ref=parts[5])
        return cls(account=account, region=region, ref=key_ref)


def is_reserved_alias(alias_name: str) -> bool:
    """True for the ``alias/aws/*`` names moto knows as AWS managed keys (``alias/aws/xray`` among them)."""
    return alias_name in RESERVED_ALIASES


def find_kms_key(location: KeyLocation) -> KmsKey | None:
    """The key a reference resolves to in moto's KMS backend, or None when there is no such key.

    An AWS managed alias (``alias/aws/xray``) resolves even before the key exists: it is created then, as AWS
    services do (botocore data/kms/2014-11-01/service-2.json, DescribeKey documentation: "Amazon Web Services
    services use DescribeKey to create Amazon Web Services managed keys from a predefined Amazon Web Services
    alias with no key ID").
    """
    backend = _kms_backend(location)
    if backend is None:
        return None
    if location.ref.startswith("alias/"):
        if is_reserved_alias(location.ref):
            return ensure_aws_managed_key(location)
        key_id = backend.get_key_id_from_alias(location.ref)
    elif location.ref.startswith("key/"):
        key_id = location.ref.removeprefix("key/")
    else:
        key_id = location.ref
    key = backend.keys.get(key_id) if key_id else None
    return _facts(key) if key is not None else None


def ensure_aws_managed_key(location: KeyLocation) -> KmsKey | None:
    """Create (once) the AWS managed key behind a reserved alias, marked ``KeyManager: AWS``.

    moto already creates reserved-alias keys on first use (``KmsBackend.get_key_id_from_alias`` →
    ``_generate_default_keys``) but labels them ``KeyManager: CUSTOMER``; real AWS managed keys report ``AWS``
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html, KeyManager). We reuse moto's
    creation and only correct the label, so moto's own DescribeKey then reports ``AWS`` too.
    """
    backend = _kms_backend(location)
    if backend is None or not is_reserved_alias(location.ref):
        return None
    with _managed_key_lock:
        key_id = backend.get_key_id_from_alias(location.ref)
        key = backend.keys[key_id]
        key.key_manager = "AWS"
    return _facts(key)


def set_key_state(key_arn: str, key_state: str, deletion_date: float | None = None) -> KmsKey:
    """Put a key in a state; ``Enabled`` in moto's DescribeKey follows it, ``DeletionDate`` is shown while
    ``PendingDeletion`` (moto's ``Key.to_dict``)."""
    key = _key_by_arn(key_arn)
    key.key_state = key_state
    key.enabled = key_state == "Enabled"
    # moto keeps naive UTC datetimes (moto.core.utils.utcnow) and renders them with unix_time.
    key.deletion_date = (
        None if deletion_date is None else datetime.fromtimestamp(deletion_date, UTC).replace(tzinfo=None)
    )
    return _facts(key)


def set_key_rotation(key_arn: str, enabled: bool) -> KmsKey:
    key = _key_by_arn(key_arn)
    key.key_rotation_status = enabled
    return _facts(key)


def set_key_policy(key_arn: str, policy: str) -> KmsKey:
    key = _key_by_arn(key_arn)
    key.policy = policy
    return _facts(key)


@dataclass(frozen=True)
class LogGroup:
    """A CloudWatch Logs log group: its ARN without the ``:*`` suffix (DescribeLogGroups' ``logGroupArn``)."""

    name: str
    arn: str
    kms_key_id: str | None


def find_log_group(account: str, region: str, name: str) -> LogGroup | None:
    backend = _logs_backend(account, region)
    group = backend.groups.get(name) if backend is not None else None
    return _log_group(group) if group is not None else None


def create_log_group(account: str, region: str, name: str, kms_key_id: str | None = None) -> LogGroup:
    """Create a log group as an AWS service would (no name checks): X-Ray creates ``aws/spans``, a name that
    CreateLogGroup refuses to callers. Raises ValueError if the group exists or moto lacks the region."""
    backend = _logs_backend(account, region)
    if backend is None:
        raise ValueError(f"no CloudWatch Logs in region {region}")
    if name in backend.groups:
        raise ValueError(f"log group {name} exists")
    return _log_group(backend.create_log_group(name, {}, kmsKeyId=kms_key_id))


def set_log_group_kms_key(account: str, region: str, name: str, kms_key_id: str | None) -> LogGroup | None:
    """Associate a key with a log group (None disassociates); None when there is no such group."""
    backend = _logs_backend(account, region)
    group = backend.groups.get(name) if backend is not None else None
    if group is None:
        return None
    group.kms_key_id = kms_key_id
    return _log_group(group)


def security_hub_enabled(account: str, region: str) -> bool:
    """True while Security Hub is enabled in the account and region (moto serves ``EnableSecurityHub``,
    ``DisableSecurityHub`` and ``DescribeHub``; its reset disables it everywhere)."""
    try:
        backend = securityhub_backends[account][region]
    except KeyError:  # a region moto does not know: Security Hub cannot be enabled there
        return False
    return bool(backend.enabled)


@dataclass(frozen=True)
class TrailRecord:
    """A CloudTrail trail as moto keeps it, with moto's own renderings of it for DescribeTrails and GetTrailStatus."""

    account: str
    home_region: str
    name: str
    arn: str
    multi_region: bool
    organization: bool
    description: dict[str, Any]
    status: dict[str, Any]
    event_selectors: list[dict[str, Any]]
    advanced_event_selectors: list[dict[str, Any]]


def trails_of(account: str) -> list[TrailRecord]:
    """Every trail the account owns, in every region moto has a CloudTrail backend for."""
    return [
        _trail(trail)
        for backend in list(cloudtrail_backends[account].values())
        for trail in list(backend.trails.values())
    ]


def management_account_of(account: str) -> str | None:
    """The management account of the organization `account` is a member of (moto records members it created with
    CreateAccount in ``organizations_backends.master_accounts``), or None."""
    entry = organizations_backends.master_accounts.get(account)
    return str(entry[0]) if entry else None


def organization_members(management_account: str, partition: str) -> frozenset[str]:
    """The ACTIVE accounts of the organization `management_account` manages (itself included), or none."""
    try:
        backend = organizations_backends[management_account][partition]
    except KeyError:
        return frozenset()
    if backend.org is None:
        return frozenset()
    return frozenset(str(a.id) for a in backend.accounts if a.status == "ACTIVE")


def _trail(trail: Any) -> TrailRecord:
    return TrailRecord(
        account=str(trail.account_id),
        home_region=str(trail.region_name),
        name=str(trail.trail_name),
        arn=str(trail.arn),
        multi_region=bool(trail.is_multi_region),
        organization=bool(trail.is_org_trail),
        description=dict(trail.description(include_region=True)),
        status=dict(trail.status.description()),
        event_selectors=list(trail.event_selectors),
        advanced_event_selectors=list(trail.advanced_event_selectors),
    )


def _key_by_arn(key_arn: str) -> Any:
    location = KeyLocation.parse(key_arn, "", "")
    backend = _kms_backend(location)
    key = backend.keys.get(location.ref.removeprefix("key/")) if backend is not None else None
    if key is None:
        raise KeyError(f"no KMS key {key_arn}")
    return key


def _kms_backend(location: KeyLocation) -> Any:
    try:
        return kms_backends[location.account][location.region]
    except KeyError:  # a region moto does not know: no key can live there
        return None


def _logs_backend(account: str, region: str) -> Any:
    try:
        return logs_backends[account][region]
    except KeyError:  # a region moto does not know: no log group can live there
        return None


def _facts(key: Any) -> KmsKey:
    deletion_date = key.deletion_date
    return KmsKey(
        arn=str(key.arn),
        key_id=str(key.id),
        key_state=str(key.key_state),
        key_spec=str(key.key_spec),
        # moto stores None when CreateKey had no KeyUsage; AWS's default is ENCRYPT_DECRYPT
        # (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html, KeyUsage).
        key_usage=str(key.key_usage or "ENCRYPT_DECRYPT"),
        key_manager=str(key.key_manager),
        origin=str(key.origin),
        policy=str(key.policy),
        rotation_enabled=bool(key.key_rotation_status),
        deletion_date=None if deletion_date is None else deletion_date.replace(tzinfo=UTC).timestamp(),
    )


def _log_group(group: Any) -> LogGroup:
    return LogGroup(name=str(group.name), arn=str(group.arn), kms_key_id=group.kms_key_id or None)
