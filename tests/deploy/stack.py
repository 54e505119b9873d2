"""The template deployed as `sam deploy` deploys it: expanded by the SAM translator,
its code uploaded, then a change set created and executed, here in moto_server's
CloudFormation. moto creates most resource types and silently skips the rest;
`skipped.py` creates those from the expanded template's own properties."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

from intrinsics import Resolver

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, what, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {seconds} s")


class MotoServer:
    """moto_server on a free loopback port, through `moto_launcher.py`."""

    def __init__(self, workdir):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(workdir) / "moto.log"
        launcher = Path(__file__).with_name("moto_launcher.py")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(launcher), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        wait_for_port(self.port, self.process, "moto_server")

    def client(self, service, endpoint=None):
        return boto3.client(
            service, endpoint_url=endpoint or self.endpoint, region_name=REGION,
            config=Config(retries={"max_attempts": 1}), **CREDENTIALS,
        )

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def expand(template_path, out_path):
    """The SAM template expanded offline (scripts/expand_template.py)."""
    script = ROOT / "scripts" / "expand_template.py"
    subprocess.run([sys.executable, str(script), str(template_path), str(out_path)], check=True)
    return json.loads(Path(out_path).read_text())


class Stack:
    def __init__(self, moto, name, template, parameters=None):
        self.moto, self.name, self.template = moto, name, template
        self.parameters = dict(parameters or {})  # the deploy's parameter values
        self.region, self.account = REGION, None
        self.cfn = moto.client("cloudformation")
        self.physical = {}  # logical id -> physical id
        self.created = {}  # logical id -> physical id, of resources created in moto's stead
        self.resolver = Resolver(template, self, self.parameters)
        self._attributes = {}

    def resources(self):
        return self.template["Resources"]

    def of_type(self, kind):
        return {k: v for k, v in self.resources().items() if v["Type"] == kind}

    def deploy(self, artifacts):
        """Uploads `artifacts` ({(bucket, key): bytes}), then creates and executes a
        change set as `sam deploy` does. Returns the seconds it took to CREATE_COMPLETE."""
        s3 = self.moto.client("s3")
        for bucket in {b for b, _ in artifacts}:
            s3.create_bucket(Bucket=bucket)
        for (bucket, key), body in artifacts.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        started = time.monotonic()
        change_set = self.cfn.create_change_set(
            StackName=self.name, ChangeSetName=f"{self.name}-1", ChangeSetType="CREATE",
            TemplateBody=json.dumps(self.template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(self.parameters.items())],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        status = self.cfn.describe_change_set(ChangeSetName=change_set["Id"])["Status"]
        assert status == "CREATE_COMPLETE", f"change set {status}"
        self.cfn.execute_change_set(ChangeSetName=change_set["Id"])
        while True:
            stack = self.cfn.describe_stacks(StackName=self.name)["Stacks"][0]
            if not stack["StackStatus"].endswith("IN_PROGRESS"):
                break
            time.sleep(0.1)
        assert stack["StackStatus"] == "CREATE_COMPLETE", (
            f"stack {self.name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}"
        )
        self.account = stack["StackId"].split(":")[4]
        summaries = self.cfn.get_paginator("list_stack_resources").paginate(StackName=self.name)
        for page in summaries:
            for r in page["StackResourceSummaries"]:
                if r.get("LogicalResourceId"):
                    self.physical[r["LogicalResourceId"]] = r.get("PhysicalResourceId", "")
        return time.monotonic() - started

    def skipped(self):
        """Logical ids of the template's resources moto did not create."""
        out = []
        for logical, resource in self.resources().items():
            condition = resource.get("Condition")
            if condition and not self.resolver.condition(condition):
                continue
            if logical not in self.physical:
                out.append(logical)
        return out

    def physical_id(self, logical):
        if logical in self.created:
            return self.created[logical]
        if logical not in self.physical:
            raise KeyError(f"{logical} is not a resource of stack {self.name}")
        return self.physical[logical]

    def resolve(self, node):
        return self.resolver.resolve(node)

    def attribute(self, logical, name):
        key = (logical, name)
        if key not in self._attributes:
            self._attributes[key] = self._read_attribute(logical, name)
        return self._attributes[key]

    def _read_attribute(self, logical, name):
        kind = self.resources()[logical]["Type"]
        pid = self.physical_id(logical)
        c = self.moto.client
        if kind == "AWS::SQS::Queue":
            if name == "Arn":
                return c("sqs").get_queue_attributes(QueueUrl=pid, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            if name == "QueueName":
                return pid.rsplit("/", 1)[1]
            if name == "QueueUrl":
                return pid
        if kind == "AWS::DynamoDB::Table":
            table = c("dynamodb").describe_table(TableName=pid)["Table"]
            return {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn")}[name]
        if kind == "AWS::Lambda::Function" and name == "Arn":
            return c("lambda").get_function_configuration(FunctionName=pid)["FunctionArn"]
        if kind == "AWS::IAM::Role" and name == "Arn":
            return c("iam").get_role(RoleName=pid)["Role"]["Arn"]
        if kind == "AWS::Logs::LogGroup" and name == "Arn":
            return f"arn:aws:logs:{self.region}:{self.account}:log-group:{pid}:*"
        if kind == "AWS::SNS::Topic":
            return {"TopicArn": pid, "TopicName": pid.rsplit(":", 1)[1]}[name]
        if kind == "AWS::Events::Rule" and name == "Arn":
            return c("events").describe_rule(Name=pid)["Arn"]
        raise KeyError(f"{logical}.{name}: an attribute of {kind} this test does not read")

    def function_names(self):
        """Logical id -> the deployed function's name, for every Lambda function."""
        return {logical: self.physical_id(logical) for logical in self.of_type("AWS::Lambda::Function")}

    def disable_mappings(self):
        """Disables every event source mapping moto created (moto would run the functions
        in Docker on every message); returns them, as the stack has them."""
        lam = self.moto.client("lambda")
        mappings = {}
        for logical in self.of_type("AWS::Lambda::EventSourceMapping"):
            uuid = self.physical_id(logical)
            lam.update_event_source_mapping(UUID=uuid, Enabled=False)
            mapping = lam.get_event_source_mapping(UUID=uuid)
            assert mapping["State"] == "Disabled", f"{logical}: still {mapping['State']}"
            mappings[logical] = mapping
        return mappings


def zip_bootstrap(binary):
    """A deployment package as `sam build` makes one for provided.al2023: the binary as
    `bootstrap`, executable."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, Path(binary).read_bytes(), compresslevel=1)
    return buffer.getvalue()


# DEPLOY_TEST_ARCH=arm64 runs the packages of `scripts/build-release --arch arm64` under
# qemu-aarch64 instead of the host's release binaries.
ARCH = os.environ.get("DEPLOY_TEST_ARCH", "host")
ARM64_SYSROOT = "/usr/aarch64-linux-gnu"


def release_package(function):
    """(path, zip bytes) of an expanded template's function: target/release/<Binary>
    zipped as `bootstrap`, or with DEPLOY_TEST_ARCH=arm64 the zip cargo-lambda made."""
    binary = function["Metadata"]["BuildProperties"]["Binary"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if ARCH == "arm64":
        path = target / "lambda" / "arm64" / binary / "bootstrap.zip"
        return path, (path.read_bytes() if path.exists() else None)
    path = target / "release" / binary
    return path, (zip_bootstrap(path) if path.exists() else None)


def launcher():
    """What runs a `bootstrap`: nothing on the host architecture, qemu for arm64."""
    return ["qemu-aarch64", "-L", ARM64_SYSROOT] if ARCH == "arm64" else []
