"""A recording proxy in front of moto_server, one per principal (a function, or a
function's event source mappings acting with its role): every AWS request passes
through unchanged and is recorded as the IAM action(s) it needs and the resource ARN
each applies to.

The action comes from `X-Amz-Target` (the JSON protocols of DynamoDB, DynamoDB Streams
and SQS) or the form body's `Action=` (the query protocols of SNS and SQS); the
resource from the request's TableName (+ IndexName), StreamArn or shard iterator,
QueueUrl or TopicArn. A transaction or batch needs the item-level action on each
table it touches, as IAM evaluates it."""

import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from stack import free_port

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}

# Batch and transactional operations -> the action IAM checks per item.
ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
                "Get": "GetItem"}
SQS_ALIASES = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
               "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


@dataclass(frozen=True)
class Call:
    principal: str  # the function's logical id
    via: str  # "function" or "event source mapping"
    action: str  # e.g. dynamodb:PutItem
    resource: str  # the ARN IAM evaluates
    status: int
    operation: str  # the API operation, e.g. TransactWriteItems for one of its items


class Recorder:
    def __init__(self, principal, via, moto_port, region, account):
        self.principal, self.via = principal, via
        self.moto_port, self.region, self.account = moto_port, region, account
        self.calls = []
        self.unparsed = []
        self.iterators = {}  # shard iterator -> stream ARN
        self.lock = threading.Lock()
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                upstream = http.client.HTTPConnection("127.0.0.1", recorder.moto_port, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    reply_headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_HEADERS]
                    status = response.status
                finally:
                    upstream.close()
                recorder.record(self.headers, self.path, body, status, payload)
                self.send_response(status)
                for name, value in reply_headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

        return Handler

    def record(self, headers, path, body, status, payload):
        try:
            pairs = self.parse(headers, path, body, payload)
        except (ValueError, KeyError, TypeError) as err:
            pairs = []
            with self.lock:
                self.unparsed.append(f"{headers.get('X-Amz-Target') or path}: {err}")
        operation = (headers.get("X-Amz-Target") or "").split(".")[-1] or parse_qs(body.decode(errors="replace")).get(
            "Action", ["?"])[0]
        with self.lock:
            for action, resource in pairs:
                self.calls.append(Call(self.principal, self.via, action, resource, status, operation))

    def parse(self, headers, path, body, payload):
        target = headers.get("X-Amz-Target")
        if target:
            service, operation = target.split(".", 1)
            request = json.loads(body or b"{}")
            if service.startswith("DynamoDBStreams"):
                return self.streams(operation, request, payload)
            if service.startswith("DynamoDB"):
                return self.dynamodb(operation, request)
            if service == "AmazonSQS":
                return self.sqs(operation, request)
            raise ValueError(f"unknown service {service}")
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        form.update({k: v[0] for k, v in parse_qs(urlparse(path).query).items()})
        operation = form.get("Action")
        if not operation:
            raise ValueError(f"no X-Amz-Target and no Action in {path}")
        if "TopicArn" in form or "TargetArn" in form or operation in ("Publish", "PublishBatch"):
            arn = form.get("TopicArn") or form.get("TargetArn")
            return [(f"sns:{'Publish' if operation == 'PublishBatch' else operation}", arn)]
        return self.sqs(operation, form)

    def table_arn(self, name, index=None):
        arn = f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    def dynamodb(self, operation, request):
        if operation in ("TransactWriteItems", "TransactGetItems"):
            out = []
            for item in request["TransactItems"]:
                (kind, spec), = item.items()
                out.append((f"dynamodb:{ITEM_ACTIONS[kind]}", self.table_arn(spec["TableName"])))
            return out
        if operation in ("BatchWriteItem", "BatchGetItem"):
            out = []
            for table, entries in request["RequestItems"].items():
                if operation == "BatchGetItem":
                    out.append(("dynamodb:BatchGetItem", self.table_arn(table)))
                    continue
                kinds = {"PutItem" if "PutRequest" in e else "DeleteItem" for e in entries}
                out += [("dynamodb:BatchWriteItem", self.table_arn(table))] + [
                    (f"dynamodb:{k}", self.table_arn(table)) for k in sorted(kinds)]
            return out
        return [(f"dynamodb:{operation}", self.table_arn(request["TableName"], request.get("IndexName")))]

    def streams(self, operation, request, payload):
        response = json.loads(payload or b"{}")
        if operation == "ListStreams":
            return [("dynamodb:ListStreams", "*")]
        if operation == "GetRecords":
            iterator = request["ShardIterator"]
            arn = self.iterators.get(iterator) or iterator.split("|", 1)[0]
        else:
            arn = request["StreamArn"]
        for key in ("ShardIterator", "NextShardIterator"):
            if response.get(key):
                self.iterators[response[key]] = arn
        return [(f"dynamodb:{operation}", arn)]

    def sqs(self, operation, request):
        if operation == "GetQueueUrl":
            name = request["QueueName"]
        else:
            name = request["QueueUrl"].rstrip("/").rsplit("/", 1)[1]
        arn = f"arn:aws:sqs:{self.region}:{self.account}:{name}"
        return [(f"sqs:{SQS_ALIASES.get(operation, operation)}", arn)]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
