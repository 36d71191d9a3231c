"""The small exception tree of xray-guard. Every error the app raises on purpose is an XrayGuardError."""

from __future__ import annotations


class XrayGuardError(Exception):
    """Base class for every deliberate xray-guard failure."""


class ConfigError(XrayGuardError):
    """A configuration variable is missing or has a value that is not allowed."""


class EventRejected(XrayGuardError):
    """An incoming event is not an X-Ray PutEncryptionConfig CloudTrail record we can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AwsCallError(XrayGuardError):
    """An AWS API call failed at an adapter edge (after the SDK's own retries)."""

    def __init__(self, service: str, operation: str, code: str, message: str) -> None:
        super().__init__(f"{service}:{operation} failed: {code}: {message}")
        self.service = service
        self.operation = operation
        self.code = code


class RemediationFailed(XrayGuardError):
    """Drift was found but could not be reverted and verified. The invocation must fail so Lambda retries."""


class SinkFailed(RemediationFailed):
    """A destination refused a finding (after the SDK's retries): the invocation fails so Lambda retries it."""
