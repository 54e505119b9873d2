"""What Lambda's pollers do for the stack's event source mappings and its schedule,
played from the deployed stack's own settings (moto's mappings are disabled): SQS
batches of the mapping's size with partial batch failures, the table's stream in
order with retries and the on-failure destination, and the EventBridge rule's target.

Each poller talks to AWS with the consuming function's role, through that role's
recorder, as Lambda's pollers do. One difference, for speed: a failed SQS message is
made visible again at once instead of after the queue's visibility timeout."""

import base64
import datetime
import json
import uuid

# Receives of one message past its queue's maxReceiveCount (or, without a redrive
# policy, at all) after which it is taken to be stuck.
STUCK_AFTER = 10


class Stuck(AssertionError):
    pass


def _outcome(result, report_failures, ids):
    """The ids a function's answer failed (all of them on an error or a bad answer)."""
    kind, payload = result
    if kind != "response":
        return set(ids), f"{kind}: {payload[:300]}"
    if not report_failures:
        return set(), None
    try:
        answer = json.loads(payload) if payload else {}
        failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures") or []}
    except (ValueError, TypeError, KeyError):
        return set(ids), f"unreadable answer {payload[:200]}"
    if failed - set(ids):
        return set(ids), f"answer names unknown items {sorted(failed - set(ids))}"
    return failed, None


class SqsPoller:
    def __init__(self, logical, mapping, function, client, queue_url, queue_logical, redrive):
        self.logical, self.function = logical, function
        self.sqs, self.url, self.queue_logical, self.redrive = client, queue_url, queue_logical, redrive
        self.queue_arn = mapping["EventSourceArn"]
        self.batch = mapping.get("BatchSize", 10)
        self.report_failures = "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", [])
        self.failures = []  # (message id, why) of failed invocations, for diagnosis
        # Lambda checks the queue when it enables a mapping.
        self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])

    def poll(self):
        messages = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=min(self.batch, 10), WaitTimeSeconds=0,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        records = [self.record(m) for m in messages]
        result = self.function.invoke({"Records": records})
        failed, why = _outcome(result, self.report_failures, [m["MessageId"] for m in messages])
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i:i + 10])]
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
        for m in messages:
            if m["MessageId"] in failed:
                self.failures.append((m["MessageId"], why or "reported failed"))
                self.check_stuck(m)
                self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"],
                                                   VisibilityTimeout=0)
        return len(messages)

    def check_stuck(self, message):
        receives = int(message["Attributes"]["ApproximateReceiveCount"])
        limit = (self.redrive or {}).get("maxReceiveCount", 0)
        if receives > int(limit) + STUCK_AFTER:
            policy = f"RedrivePolicy {json.dumps(self.redrive)}" if self.redrive else "no RedrivePolicy"
            raise Stuck(
                f"{self.queue_logical}: message {message['MessageId']} failed {receives} times in "
                f"{self.function.logical} and was never moved to a dead-letter queue: the queue has {policy}"
            )

    def record(self, m):
        attributes = {
            name: {"stringValue": v.get("StringValue"), "binaryValue": v.get("BinaryValue"),
                   "dataType": v["DataType"], "stringListValues": [], "binaryListValues": []}
            for name, v in m.get("MessageAttributes", {}).items()
        }
        for value in attributes.values():
            if value["binaryValue"] is None:
                del value["binaryValue"]
            else:
                value["binaryValue"] = base64.b64encode(value["binaryValue"]).decode()
        return {
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": attributes,
            "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn, "awsRegion": self.queue_arn.split(":")[3],
        }


def _lambda_json(value):
    """A stream record as Lambda hands it over: binaries in base64, times in epoch seconds."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if isinstance(value, dict):
        return {k: _lambda_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lambda_json(v) for v in value]
    return value


class StreamPoller:
    def __init__(self, logical, mapping, function, streams, sqs, destination_url):
        self.logical, self.function, self.streams, self.sqs = logical, function, streams, sqs
        self.arn = mapping["EventSourceArn"]
        self.batch = mapping.get("BatchSize", 100)
        self.start = mapping.get("StartingPosition", "TRIM_HORIZON")
        self.max_retries = mapping.get("MaximumRetryAttempts", -1)
        self.report_failures = "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", [])
        self.destination_url = destination_url
        self.acked = {}  # shard id -> last sequence number handled
        self.retries = {}  # sequence number -> failed attempts
        self.given_up = []  # sequence numbers sent to the on-failure destination
        self.relayed = 0

    def poll(self):
        handed = 0
        shards = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        for shard in shards:
            sid = shard["ShardId"]
            args = {"StreamArn": self.arn, "ShardId": sid}
            if sid in self.acked:
                args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=self.acked[sid])
            else:
                args.update(ShardIteratorType=self.start)
            iterator = self.streams.get_shard_iterator(**args)["ShardIterator"]
            records = self.streams.get_records(ShardIterator=iterator, Limit=self.batch).get("Records", [])
            if records:
                handed += len(records)
                self.handle(sid, records)
        return handed

    def handle(self, shard, records):
        event = {"Records": [dict(_lambda_json(r), eventSourceARN=self.arn) for r in records]}
        seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
        failed, why = _outcome(self.function.invoke(event), self.report_failures, seqs)
        if not failed:
            self.acked[shard] = seqs[-1]
            self.relayed += len(records)
            return
        first = min(seqs.index(s) for s in failed)
        if first > 0:
            self.acked[shard] = seqs[first - 1]
        seq = seqs[first]
        self.retries[seq] = self.retries.get(seq, 0) + 1
        if 0 <= self.max_retries < self.retries[seq]:
            self.give_up(shard, records[first], why)
            self.acked[shard] = seq

    def give_up(self, shard, record, why):
        """What Lambda sends to the mapping's on-failure destination."""
        self.given_up.append((record["dynamodb"]["SequenceNumber"], why))
        if not self.destination_url:
            return
        seq = record["dynamodb"]["SequenceNumber"]
        body = {
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": self.function.api.function_arn,
                               "condition": "RetryAttemptsExhausted",
                               "approximateInvokeCount": self.retries[seq]},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": why},
            "version": "1.0", "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "DDBStreamBatchInfo": {"shardId": shard, "startSequenceNumber": seq, "endSequenceNumber": seq,
                                   "batchSize": 1, "streamArn": self.arn},
        }
        self.sqs.send_message(QueueUrl=self.destination_url, MessageBody=json.dumps(body))


class Schedule:
    """An EventBridge rule with a rate or cron schedule and a Lambda target."""

    def __init__(self, logical, rule, function):
        self.logical, self.rule, self.function = logical, rule, function
        assert rule.get("State") == "ENABLED", f"{logical}: rule is {rule.get('State')}"
        assert rule.get("ScheduleExpression", "").startswith(("rate(", "cron(")), f"{logical}: no schedule"

    def tick(self):
        """One scheduled invocation, as the rule's target receives it; returns its answer."""
        now = datetime.datetime.now(datetime.timezone.utc)
        arn = self.rule["Arn"]
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                 "source": "aws.events", "account": arn.split(":")[4],
                 "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": arn.split(":")[3],
                 "resources": [arn], "detail": {}}
        kind, payload = self.function.invoke(event)
        assert kind == "response", f"{self.logical} -> {self.function.logical}: {kind} {payload}"
        return json.loads(payload or "null")


def settle(stream_pollers, sqs_pollers, rounds=500):
    """Runs the pollers until a whole round finds nothing to hand over."""
    for _ in range(rounds):
        handed = sum(p.poll() for p in stream_pollers) + sum(p.poll() for p in sqs_pollers)
        if handed == 0:
            return
    raise AssertionError(f"the event source mappings did not settle within {rounds} rounds")

