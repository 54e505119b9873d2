"""One deployment of the (expanded) template in a fresh moto_server, with everything a
user's AWS account would add around it: the release binaries under a Runtime API, the
pollers of the stack's event source mappings, its schedule, its HTTP API, and tap
queues subscribed to every topic standing in for the topics' outside subscribers."""

import atexit
import base64
import fnmatch
import hashlib
import json
import shutil
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import iam_check
import pollers
import skipped
import wiring
from apigw import HttpApi
from recorder import Recorder
from runtime_api import FunctionProcess, wait_until_polling
from stack import MotoServer, Stack, launcher, release_package

ZIPS = {}  # function logical id -> its package, shared by the deployments of one test run


def _envelope_type(body):
    try:
        return json.loads(body)["MessageAttributes"]["type"]["Value"]
    except (ValueError, KeyError, TypeError):
        return None


# What `sam deploy --parameter-overrides` would pass: the middle office's role (the
# one the test publishes audit results as) and one outside subscriber account.
MIDDLE_OFFICE = "arn:aws:iam::123456789012:role/middle-office"
PARAMETERS = {"MiddleOfficePrincipals": MIDDLE_OFFICE, "SubscriberAccounts": "210987654321"}


class Deployment:
    def __init__(self, template, name="orderflow"):
        self.workdir = Path(tempfile.mkdtemp(prefix="deploy-test-"))
        self.template, self.name = template, name
        self.moto = None
        self.functions, self.recorders = {}, []
        self.timings = {}
        atexit.register(self.close)  # also when the test run is interrupted

    # --- bring-up ------------------------------------------------------------------
    def deploy(self):
        """Deploys the stack and creates what moto skipped; the functions are not started."""
        self.moto = MotoServer(self.workdir)
        self.stack = Stack(self.moto, self.name, self.template, PARAMETERS)
        artifacts = {}
        for logical, function in self.stack.of_type("AWS::Lambda::Function").items():
            if logical not in ZIPS:
                path, package = release_package(function)
                if package is None:
                    raise AssertionError(f"{path} is missing: scripts/deploy-test builds the release binaries")
                ZIPS[logical] = package
            code = function["Properties"]["Code"]
            artifacts[(code["S3Bucket"], code["S3Key"])] = ZIPS[logical]
        self.timings["deploy"] = self.stack.deploy(artifacts)
        self.skipped = skipped.fill(self.stack)
        self.mappings = self.stack.disable_mappings()
        lam = self.moto.client("lambda")
        self.configurations = {logical: lam.get_function_configuration(FunctionName=name)
                               for logical, name in self.stack.function_names().items()}
        return self

    def wiring_problems(self):
        return wiring.check(self.stack, self.configurations, self.mappings)

    def start(self):
        """Starts every function's bootstrap, the recorders, pollers, taps and the API."""
        started = time.monotonic()
        for logical, config in sorted(self.configurations.items()):
            bootstrap = self.unpack(logical, config)
            recorder = self.recorder(logical, "function")
            credentials = {"AWS_ACCESS_KEY_ID": f"ASIA{logical.upper()[:16]}", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_SESSION_TOKEN": "testing", "AWS_REGION": self.stack.region,
                           "AWS_DEFAULT_REGION": self.stack.region, "AWS_ENDPOINT_URL": recorder.endpoint}
            self.functions[logical] = FunctionProcess(logical, config, bootstrap, credentials,
                                                      self.workdir / f"{logical}.log", launcher())
        for function in self.functions.values():
            wait_until_polling(function)
        self.timings["cold starts"] = time.monotonic() - started
        self.start_pollers()
        by_arn = {c["FunctionArn"]: self.functions[logical] for logical, c in self.configurations.items()}
        api_logical = next(iter(self.stack.of_type("AWS::ApiGatewayV2::Api")))
        self.api = HttpApi(self.stack, self.stack.physical_id(api_logical), by_arn)
        self.start_schedules(by_arn)
        self.start_taps()
        return self

    def unpack(self, logical, config):
        """The function's deployment package, as uploaded, unpacked to its own task root;
        the deployed CodeSha256 must be that package's."""
        code = self.stack.resources()[logical]["Properties"]["Code"]
        body = self.moto.client("s3").get_object(Bucket=code["S3Bucket"], Key=code["S3Key"])["Body"].read()
        assert base64.b64encode(hashlib.sha256(body).digest()).decode() == config["CodeSha256"], logical
        root = self.workdir / "task" / logical
        root.mkdir(parents=True)
        package = root / "package.zip"
        package.write_bytes(body)
        with zipfile.ZipFile(package) as z:
            z.extractall(root)
        package.unlink()
        bootstrap = root / "bootstrap"
        bootstrap.chmod(0o755)
        return bootstrap

    def recorder(self, logical, via):
        recorder = Recorder(logical, via, self.moto.port, self.stack.region, self.stack.account)
        self.recorders.append(recorder)
        return recorder

    def start_pollers(self):
        by_arn = {c["FunctionArn"]: logical for logical, c in self.configurations.items()}
        queues = {self.stack.attribute(q, "Arn"): q for q in self.stack.of_type("AWS::SQS::Queue")}
        self.sqs_pollers, self.stream_pollers = [], []
        for logical, mapping in sorted(self.mappings.items()):
            function = by_arn[mapping["FunctionArn"]]
            endpoint = self.recorder(function, "event source mapping").endpoint
            if mapping["EventSourceArn"] in queues:
                queue = queues[mapping["EventSourceArn"]]
                url = self.stack.physical_id(queue)
                attributes = self.moto.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
                redrive = json.loads(attributes["Attributes"].get("RedrivePolicy", "null"))
                self.sqs_pollers.append(pollers.SqsPoller(
                    logical, mapping, self.functions[function], self.moto.client("sqs", endpoint), url, queue, redrive))
            elif ":dynamodb:" in mapping["EventSourceArn"]:
                destination = mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                url = self.stack.physical_id(queues[destination]) if destination else None
                self.stream_pollers.append(pollers.StreamPoller(
                    logical, mapping, self.functions[function], self.moto.client("dynamodbstreams", endpoint),
                    self.moto.client("sqs", endpoint), url))
            else:
                raise AssertionError(f"{logical}: an event source this test does not poll: {mapping['EventSourceArn']}")

    def start_schedules(self, by_arn):
        events = self.moto.client("events")
        self.schedules = {}
        for logical in self.stack.of_type("AWS::Events::Rule"):
            rule = events.describe_rule(Name=self.stack.physical_id(logical))
            targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            for target in targets:
                function = by_arn[target["Arn"]]
                self.check_invoke_permission(function, "events.amazonaws.com", rule["Arn"], logical)
                self.schedules[logical] = pollers.Schedule(logical, rule, function)

    def check_invoke_permission(self, function, service, source_arn, source):
        policy = json.loads(self.moto.client("lambda").get_policy(FunctionName=function.name)["Policy"])
        for s in policy["Statement"]:
            principal = s.get("Principal", {})
            principal = principal.get("Service") if isinstance(principal, dict) else principal
            condition = s.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn", source_arn)
            if principal == service and fnmatch.fnmatchcase(source_arn, condition):
                return
        raise AssertionError(f"{function.logical} does not let {service} invoke it from {source}")

    def start_taps(self):
        """One queue per topic, subscribed with the SNS envelope (so attributes show)."""
        sqs, sns = self.moto.client("sqs"), self.moto.client("sns")
        self.taps, self.tapped = {}, defaultdict(list)
        for logical in self.stack.of_type("AWS::SNS::Topic"):
            url = sqs.create_queue(QueueName=f"tap-{logical}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=self.stack.physical_id(logical), Protocol="sqs", Endpoint=arn)
            self.taps[logical] = url

    # --- driving -------------------------------------------------------------------
    def settle(self):
        pollers.settle(self.stream_pollers, self.sqs_pollers)

    def tick(self):
        (schedule,) = self.schedules.values()
        answer = schedule.tick()
        self.settle()
        return answer

    def publish(self, topic_logical, message, kind):
        body = message if isinstance(message, str) else json.dumps(message)
        self.moto.client("sns").publish(TopicArn=self.stack.physical_id(topic_logical), Message=body,
                                        MessageAttributes={"type": {"DataType": "String", "StringValue": kind}})
        self.settle()

    def messages(self, topic_logical):
        """Everything the topic's tap received so far, oldest first: dicts with `type`,
        `attributes` and `message` (the parsed body)."""
        sqs = self.moto.client("sqs")
        while True:
            got = sqs.receive_message(QueueUrl=self.taps[topic_logical], MaxNumberOfMessages=10,
                                      WaitTimeSeconds=0).get("Messages", [])
            if not got:
                break
            for m in got:
                envelope = json.loads(m["Body"])
                attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
                try:
                    body = json.loads(envelope["Message"])
                except ValueError:
                    body = envelope["Message"]
                self.tapped[topic_logical].append({"type": attributes.get("type"), "attributes": attributes,
                                                   "message": body})
                sqs.delete_message(QueueUrl=self.taps[topic_logical], ReceiptHandle=m["ReceiptHandle"])
        return list(self.tapped[topic_logical])

    def about(self, topic_logical, kind, subject):
        return [m for m in self.messages(topic_logical)
                if m["type"] == kind and isinstance(m["message"], dict) and m["message"].get("subject") == subject]

    def queue_contents(self, queue_logical):
        """The messages waiting in a queue (left there: made visible again)."""
        sqs = self.moto.client("sqs")
        url = self.stack.physical_id(queue_logical)
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=0,
                                  MessageAttributeNames=["All"]).get("Messages", [])
        return got

    def item(self, pk, sk):
        table = self.stack.physical_id(next(iter(self.stack.of_type("AWS::DynamoDB::Table"))))
        return self.moto.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}},
                                                     ConsistentRead=True).get("Item")

    # --- checks --------------------------------------------------------------------
    def leftovers(self, expected=()):
        """A line per queue that holds messages at the end, other than the `expected`
        queues, naming where its messages came from."""
        problems = []
        for logical in sorted(self.stack.of_type("AWS::SQS::Queue")):
            left = self.queue_contents(logical)
            if left and logical not in expected:
                types = sorted({m.get("MessageAttributes", {}).get("type", {}).get("StringValue")
                                or _envelope_type(m["Body"]) for m in left})
                problems.append(f"{logical} holds {len(left)} message(s) of type {', '.join(map(str, types))} at "
                                f"the end{self.describe_queue(logical)}")
        return problems

    def describe_queue(self, logical):
        """Where a queue's messages come from: the queue it is the dead-letter queue of,
        and the subscriptions feeding that queue, with their filter policies."""
        sqs = self.moto.client("sqs")
        arn = self.stack.attribute(logical, "Arn")
        source = logical
        for other in self.stack.of_type("AWS::SQS::Queue"):
            attributes = sqs.get_queue_attributes(QueueUrl=self.stack.physical_id(other),
                                                  AttributeNames=["RedrivePolicy"]).get("Attributes", {})
            if json.loads(attributes.get("RedrivePolicy", "{}")).get("deadLetterTargetArn") == arn:
                source = other
        text = f" (dead letters of {source}" if source != logical else " ("
        source_arn = self.stack.attribute(source, "Arn")
        feeds = []
        for sub, resource in sorted(self.stack.of_type("AWS::SNS::Subscription").items()):
            props = self.stack.resolve(resource["Properties"])
            if props.get("Endpoint") == source_arn:
                topic = self.arn_names()(props["TopicArn"])
                policy = props.get("FilterPolicy")
                feeds.append(f"{sub} from {topic} with " + (f"filter policy {json.dumps(policy)}" if policy
                                                             else "no filter policy"))
        if feeds:
            text += ("; " if source != logical else "") + "fed by " + "; ".join(feeds)
        return text + ")" if text != " (" else ""

    def calls(self):
        by_function = defaultdict(list)
        for recorder in self.recorders:
            by_function[recorder.principal] += recorder.calls
        for logical in self.configurations:
            by_function.setdefault(logical, [])
        return by_function

    def unparsed_calls(self):
        return [u for r in self.recorders for u in r.unparsed]

    def least_privilege(self):
        return iam_check.check(self.stack, self.calls(), self.arn_names())

    def arn_names(self):
        names = {}
        for logical, resource in self.stack.resources().items():
            kind = resource["Type"]
            if kind == "AWS::SQS::Queue":
                names[self.stack.attribute(logical, "Arn")] = logical
            elif kind == "AWS::SNS::Topic":
                names[self.stack.physical_id(logical)] = logical
            elif kind == "AWS::DynamoDB::Table":
                names[self.stack.attribute(logical, "StreamArn")] = f"{logical} stream"
                names[self.stack.attribute(logical, "Arn")] = logical
        ordered = sorted(names.items(), key=lambda kv: -len(kv[0]))

        def name(text):
            for arn, logical in ordered:
                text = text.replace(arn, logical)
            return text
        return name

    def close(self):
        """Stops what this deployment started (by process handle), once."""
        functions, recorders, moto = self.functions, self.recorders, self.moto
        self.functions, self.recorders, self.moto = {}, [], None
        for function in functions.values():
            function.stop()
        for recorder in recorders:
            recorder.stop()
        if moto:
            moto.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
