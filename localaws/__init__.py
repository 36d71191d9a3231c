"""localaws: the local AWS that xray-guard's tests, demo and benchmarks run against (never deployed).

moto's server (every moto service, multi-account through STS AssumeRole) plus what moto lacks or gets wrong for
this project: X-Ray ``GetEncryptionConfig``/``PutEncryptionConfig`` and ``GetTraceSegmentDestination``/
``UpdateTraceSegmentDestination`` (which creates ``aws/spans``), CloudWatch Logs ``AssociateKmsKey``/
``DisassociateKmsKey`` and the ``aws/`` rule of ``CreateLogGroup``, the KMS key lifecycle, rotation and policy
operations, the Regions each account has enabled (``account:ListRegions``/``GetRegionOptStatus``/``EnableRegion``/
``DisableRegion``, ``ec2:DescribeRegions``), Security Hub ``BatchImportFindings``/``GetFindings`` (enabled-only, the
caller's own findings, fields providers cannot update, filters), CloudTrail organization trails seen from member
accounts and the default event selector of a trail created without one; a call log and injected faults (latency,
throttling, stuck updates, failing operations, regions without Transaction Search).

Control endpoints: ``GET /_localaws/calls``, ``POST /_localaws/reset``, ``GET|POST /_localaws/faults``,
``GET /_localaws/published?topic=ARN`` (messages SNS accepted for a topic), ``GET /_localaws/health``.

In-process: ``with LocalAWS(updating_seconds=0.05) as aws: ...aws.endpoint_url...``. As a process:
``python -m localaws --port 0`` or ``start_subprocess()``.
"""

from localaws.client import LocalAWSClient, admin_session, start_subprocess
from localaws.faults import FailRule, FaultSettings
from localaws.server import LocalAWS

__all__ = ["FailRule", "FaultSettings", "LocalAWS", "LocalAWSClient", "admin_session", "start_subprocess"]
