"""The alert topic: one finding (or a digest / storm recap) rendered for email, Slack (Amazon Q Developer) and
machines, published as one SNS message. Storm control and the failure queue belong here."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.domain import Mode, Outcome, SinkName
from chalicelib.errors import AwsCallError, SinkFailed
from chalicelib.findings import Finding
from chalicelib.log import emit
from chalicelib.notify import Message, finding_message
from chalicelib.sessions import call_aws
from chalicelib.storm import StormControl, StormVerdict, SuppressedDrift

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient


class SnsSink:
    """Publishes to the alert topic through the clients it is given (made on first use)."""

    name = SinkName.SNS

    def __init__(
        self,
        topic_arn: str,
        sns: Callable[[], SNSClient],
        *,
        storm: StormControl,
        mode: Mode,
        failure_queue_url: str | None = None,
        sqs: Callable[[], SQSClient] | None = None,
    ) -> None:
        self._topic_arn = topic_arn
        self._sns = sns
        self._storm = storm
        self._mode = mode
        self._failure_queue_url = failure_queue_url
        self._sqs = sqs

    def wants(self, finding: Finding) -> bool:
        return finding.is_news

    def send(self, finding: Finding) -> str | None:
        """The finding's alert, unless storm control collapses it into a later summary that names it."""
        storm: StormVerdict | None = None  # set when this alert is a storm summary
        if finding.outcome in {Outcome.REVERTED, Outcome.ALERTED} and finding.verdict.is_drift:
            drift = SuppressedDrift(
                finding.account,
                finding.region,
                finding.cloudtrail_event_id or finding.event_id or "unknown",
                finding.verdict.value,
            )
            verdict = self._storm.record(drift, alert_mode=self._mode is Mode.ALERT)
            if not verdict.send:
                emit(
                    "alert-suppressed",
                    account=finding.account,
                    region=finding.region,
                    cloudtrail_event_id=drift.event_id,
                    storm_count=verdict.count,
                )
                return None
            if verdict.summarized or verdict.suppressed:
                storm = verdict
        self.publish(finding_message(finding, storm), finding)
        return None

    def publish(self, message: Message, finding: Finding | None = None) -> str:
        """Publish; if SNS refuses, keep the message in the failure queue and raise SinkFailed."""
        try:
            response = call_aws(
                "sns",
                "Publish",
                lambda: self._sns().publish(
                    TopicArn=self._topic_arn,
                    Subject=message.subject,
                    MessageStructure="json",
                    Message=json.dumps(message.message),
                    MessageAttributes=message.attributes,
                ),
            )
        except AwsCallError as e:
            kept = self._keep_undelivered(message, finding, e)
            emit("alert-undelivered", error=str(e), kept_in_failure_queue=kept, subject=message.subject)
            raise SinkFailed(f"alert not delivered: {e}") from e
        message_id = str(response["MessageId"])
        emit("alert-sent", message_id=message_id, subject=message.subject)
        return message_id

    def _keep_undelivered(self, message: Message, finding: Finding | None, error: AwsCallError) -> bool:
        if not self._failure_queue_url or self._sqs is None:
            return False
        body: dict[str, Any] = {
            "undelivered_alert": message.message["sqs"],
            "subject": message.subject,
            "error": str(error),
        }
        if finding is not None:
            body["finding"] = finding.to_json()
        url, sqs = self._failure_queue_url, self._sqs()
        try:
            call_aws("sqs", "SendMessage", lambda: sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body)))
        except AwsCallError:
            return False
        return True
