"""CloudWatch Logs key association (``AssociateKmsKey`` / ``DisassociateKmsKey``, absent from moto 5.2.5) and the
name rule of ``CreateLogGroup`` that moto does not enforce.

Wire contract, from botocore data/logs/2014-03-28/service-2.json (protocol json, target ``Logs_20140328.*``):
both operations take ``logGroupName`` or ``resourceIdentifier`` ("you must specify either ... but you can't
specify both"); ``AssociateKmsKey`` also the required ``kmsKeyId``, "The Amazon Resource Name (ARN) of the KMS
key"; both answer an empty body and model ``InvalidParameterException``, ``ResourceNotFoundException``,
``OperationAbortedException`` and ``ServiceUnavailableException``, none with an ``httpStatusCode`` (so 400).
The association is kept on moto's log group, so moto's own ``DescribeLogGroups`` shows ``kmsKeyId``.

The key checks (``check_log_group_key``) also serve X-Ray, which applies a key to ``aws/spans`` when it creates
that group (``localaws.transaction_search``).
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.wrappers import Response

from localaws import moto_bridge
from localaws.moto_bridge import KeyLocation, KmsKey
from localaws.protocol import AwsRequest, error_response, json_response, partition_of

OPERATIONS = frozenset({"AssociateKmsKey", "DisassociateKmsKey"})

KeyFinder = Callable[[KeyLocation], KmsKey | None]

# botocore logs model, shape LogGroupName: min 1, max 512, pattern [\.\-_/#A-Za-z0-9]+.
_LOG_GROUP_NAME = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
# "arn:aws:logs:REGION:ACCOUNT_ID:log-group:LOG_GROUP_NAME" and "arn:aws:logs:REGION:ACCOUNT_ID:query-result:*"
# (AssociateKmsKeyRequest.resourceIdentifier).
_LOGS_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):logs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<rest>.+)$")
# A key ARN (https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id-key-ARN).
KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/[A-Za-z0-9-]+$")

# What CloudWatch Logs must be allowed to do with the key. Assumption: the "Encrypt log data in CloudWatch Logs
# using AWS KMS" page (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)
# grants kms:Encrypt*, kms:Decrypt*, kms:ReEncrypt*, kms:GenerateDataKey*, kms:Describe*; we require the two
# that writing and reading log events cannot do without.
_LOGS_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
_ENCRYPTION_CONTEXT_KEY = "kms:encryptioncontext:aws:logs:arn"


class KeyUnusable(Exception):
    """The key is missing, not a key ARN, not enabled or not symmetric: CloudWatch Logs' InvalidParameterException
    ("If you attempt to associate a KMS key with a log group but the KMS key does not exist or the KMS key is
    disabled, you receive an InvalidParameterException error", botocore logs model, AssociateKmsKey)."""


class KeyPolicyDenies(Exception):
    """The key policy does not let CloudWatch Logs use the key for this log group.

    Answered as ``AccessDeniedException`` (HTTP 400) with AWS's message "The specified KMS key does not exist or
    is not allowed to be used with Arn '<log group ARN>'", as reported from real AWS for AssociateKmsKey
    (github.com/ministryofjustice/modernisation-platform/issues/7870) and CreateLogGroup
    (github.com/hashicorp/terraform-provider-aws/issues/29282, github.com/aws/aws-cdk/issues/28304). The code is
    not in the logs model, and the brief for this emulator expected InvalidParameterException: an assumption
    either way, decided by those reports.
    """


def log_group_arn(account: str, region: str, name: str) -> str:
    """A log group's ARN, without ``:*`` (the form ``resourceIdentifier`` and the encryption context use)."""
    return f"arn:{partition_of(region)}:logs:{region}:{account}:log-group:{name}"


def check_log_group_key(
    key_ref: object, account: str, region: str, group_arn: str, find_key: KeyFinder = moto_bridge.find_kms_key
) -> KmsKey:
    """The key, if CloudWatch Logs can encrypt ``group_arn`` with it; else KeyUnusable or KeyPolicyDenies."""
    if not isinstance(key_ref, str) or not KEY_ARN.match(key_ref):
        # kmsKeyId is "The Amazon Resource Name (ARN) of the KMS key"; AWS answers a key id with
        # InvalidParameterException "The specified KMS Key Id could not be found."
        # (github.com/hashicorp/terraform/issues/24194).
        raise KeyUnusable(f"The specified KMS Key Id could not be found: {key_ref!r} (kmsKeyId must be a key ARN)")
    key = find_key(KeyLocation.parse(key_ref, account, region))
    if key is None:
        raise KeyUnusable(f"The specified KMS Key Id could not be found: {key_ref}")
    if key.key_state != "Enabled":
        # The model names "disabled"; a key pending deletion (or in any other state) cannot be used either
        # (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html): assumption, same error.
        raise KeyUnusable(f"KMS key {key.arn} is not enabled (KeyState {key.key_state})")
    if key.key_spec != "SYMMETRIC_DEFAULT" or key.key_usage != "ENCRYPT_DECRYPT":
        # "CloudWatch Logs supports only symmetric KMS keys. Do not associate an asymmetric KMS key" (logs model,
        # AssociateKmsKey). Assumption: AWS refuses one rather than accepting it.
        raise KeyUnusable(f"KMS key {key.arn} is not a symmetric encryption key; CloudWatch Logs supports only those")
    if not policy_allows_logs(key.policy, region, group_arn):
        raise KeyPolicyDenies(
            f"The specified KMS key does not exist or is not allowed to be used with Arn '{group_arn}'"
        )
    return key


def policy_allows_logs(policy: str, region: str, group_arn: str) -> bool:
    """True when Allow statements for the CloudWatch Logs service principal cover ``_LOGS_KEY_ACTIONS`` for this
    log group.

    The principal is ``logs.<region>.amazonaws.com`` as the CloudWatch Logs page writes it; ``logs.amazonaws.com``
    and ``*`` are accepted too. A statement limited by ``kms:EncryptionContext:aws:logs:arn`` (ArnEquals, ArnLike,
    StringEquals, StringLike) counts only for matching log group ARNs. Assumptions: other conditions are taken as
    met, Deny and NotAction statements are not evaluated.
    """
    try:
        document = json.loads(policy)
    except ValueError:
        return False
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    missing = set(_LOGS_KEY_ACTIONS)
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        if not _names_logs(statement.get("Principal"), region) or not _context_allows(statement, group_arn):
            continue
        missing -= {action for action in missing if _covers(statement.get("Action"), action)}
    return not missing


def _names_logs(principal: object, region: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    services = {f"logs.{region}.amazonaws.com", f"logs.{region}.amazonaws.com.cn", "logs.amazonaws.com"}
    return bool(services & set(_strings(principal.get("Service")))) or "*" in _strings(principal.get("AWS"))


def _context_allows(statement: Mapping[str, Any], group_arn: str) -> bool:
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return True
    for operator, tests in condition.items():
        if operator not in ("ArnEquals", "ArnLike", "StringEquals", "StringLike") or not isinstance(tests, dict):
            continue
        for key, values in tests.items():
            if key.lower() != _ENCRYPTION_CONTEXT_KEY:
                continue
            like = operator.endswith("Like")
            if not any(fnmatch.fnmatchcase(group_arn, v) if like else group_arn == v for v in _strings(values)):
                return False
    return True


def _covers(actions: object, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _strings(actions))


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


class _InvalidParameter(Exception):
    pass


class _NotFound(Exception):
    pass


class LogsKeys:
    """Key associations of log groups (kept on moto's groups) and of query results (kept here, per account and
    region: nothing in the API reads them back)."""

    def __init__(self, find_key: KeyFinder = moto_bridge.find_kms_key) -> None:
        self._find_key = find_key
        self._query_result_keys: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def handle(self, request: AwsRequest, account: str) -> Response:
        try:
            target = _target(request.params, account, request.region)
            if request.operation == "AssociateKmsKey":
                self._associate(target, request.params.get("kmsKeyId"), account, request.region)
            else:
                self._disassociate(target, account, request.region)
        except (_InvalidParameter, KeyUnusable) as error:
            return error_response(request, "InvalidParameterException", str(error), 400)
        except KeyPolicyDenies as error:
            return error_response(request, "AccessDeniedException", str(error), 400)
        except _NotFound as error:
            return error_response(request, "ResourceNotFoundException", str(error), 400)
        return json_response({})

    def refuse_create(self, request: AwsRequest, account: str) -> Response | None:
        """The error CreateLogGroup answers before moto sees it, or None to let moto create the group."""
        name = request.params.get("logGroupName")
        if isinstance(name, str) and name.startswith("aws/"):
            # "Log group names can't start with the string aws/" (logs model, CreateLogGroup); AWS's message is
            # not documented. X-Ray creates aws/spans through moto_bridge.create_log_group, not through here.
            message = (
                f"Log group names can't start with the string aws/ (got {name!r}); that prefix is for AWS services"
            )
            return error_response(request, "InvalidParameterException", message, 400)
        key_ref = request.params.get("kmsKeyId")
        if key_ref is None or not isinstance(name, str):
            return None
        try:
            # "If you attempt to associate a KMS key with the log group but the KMS key does not exist or the KMS
            # key is disabled, you receive an InvalidParameterException error" (logs model, CreateLogGroup).
            check_log_group_key(key_ref, account, request.region, log_group_arn(account, request.region, name))
        except KeyUnusable as error:
            return error_response(request, "InvalidParameterException", str(error), 400)
        except KeyPolicyDenies as error:
            return error_response(request, "AccessDeniedException", str(error), 400)
        return None

    def reset(self) -> None:
        with self._lock:
            self._query_result_keys.clear()

    def _associate(self, target: str | None, key_ref: object, account: str, region: str) -> None:
        if key_ref is None:
            raise _InvalidParameter("kmsKeyId is required")
        if target is None:
            arn = f"arn:{partition_of(region)}:logs:{region}:{account}:query-result:*"
            key = check_log_group_key(key_ref, account, region, arn, self._find_key)
            with self._lock:
                self._query_result_keys[(account, region)] = key.arn
            return
        group = moto_bridge.find_log_group(account, region, target)
        if group is None:
            raise _NotFound("The specified log group does not exist.")
        key = check_log_group_key(key_ref, account, region, group.arn, self._find_key)
        # The group stores the ARN as given, which check_log_group_key has made sure is the key ARN.
        moto_bridge.set_log_group_kms_key(account, region, target, key.arn)

    def _disassociate(self, target: str | None, account: str, region: str) -> None:
        if target is None:
            with self._lock:
                self._query_result_keys.pop((account, region), None)
            return
        # Assumption: disassociating a group that has no key succeeds (the model documents no error for it).
        if moto_bridge.set_log_group_kms_key(account, region, target, None) is None:
            raise _NotFound("The specified log group does not exist.")


def _target(params: Mapping[str, Any], account: str, region: str) -> str | None:
    """The log group named by ``logGroupName`` or ``resourceIdentifier``; None for the query-result resource."""
    name = params.get("logGroupName")
    identifier = params.get("resourceIdentifier")
    if name is not None and identifier is not None:
        raise _InvalidParameter("Specify either logGroupName or resourceIdentifier, not both")
    if name is None and identifier is None:
        raise _InvalidParameter("Specify either logGroupName or resourceIdentifier")
    if name is not None:
        return _group_name(name)
    match = _LOGS_ARN.match(identifier) if isinstance(identifier, str) else None
    if match is None:
        raise _InvalidParameter(f"resourceIdentifier must be a log group or query-result ARN, got {identifier!r}")
    if (match["account"], match["region"], match["partition"]) != (account, region, partition_of(region)):
        # "Replace REGION and ACCOUNT_ID with your Region and account ID" (AssociateKmsKeyRequest); assumption:
        # another account or region is refused as an invalid parameter.
        raise _InvalidParameter(f"resourceIdentifier {identifier} is not in account {account} and region {region}")
    rest = match["rest"]
    if rest == "query-result:*":
        return None
    if not rest.startswith("log-group:"):
        raise _InvalidParameter(f"resourceIdentifier must be a log group or query-result ARN, got {identifier!r}")
    return _group_name(rest.removeprefix("log-group:"))


def _group_name(name: object) -> str:
    if not isinstance(name, str) or not _LOG_GROUP_NAME.match(name):
        # Also refuses the ":*" form of a log group ARN: ':' is not in the LogGroupName pattern.
        raise _InvalidParameter(f"Invalid log group name {name!r} (1-512 of a-z, A-Z, 0-9, '_', '-', '/', '.', '#')")
    return name
