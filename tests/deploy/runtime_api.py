"""A Lambda Runtime API (2018-06-01) for one function, and the function's release
binary running under it as Lambda runs a `provided.al2023` function: `bootstrap` from
its deployment package, started with exactly the environment the deployed function
has, plus the variables Lambda itself sets.

Each invocation gets a fresh request id, the function's ARN and a real deadline (now
plus the function's timeout), which the scheduled tick reads to know when to stop."""

import json
import queue
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from stack import free_port

PREFIX = "/2018-06-01/runtime"


class Invocation:
    def __init__(self, event):
        self.id = str(uuid.uuid4())
        self.event = event
        self.done = threading.Event()
        self.outcome = None  # ("response" | "error", payload)


class RuntimeApi:
    def __init__(self, function_arn, timeout_seconds):
        self.function_arn = function_arn
        self.timeout_seconds = timeout_seconds
        self.pending = queue.Queue()
        self.in_flight = {}
        self.init_error = None
        self.polling = threading.Event()  # set once the function first asks for work
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=None):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self.reply(404, b'{"errorMessage":"not found"}')
                api.polling.set()
                invocation = api.pending.get()
                deadline_ms = int((time.time() + api.timeout_seconds) * 1000)
                api.in_flight[invocation.id] = invocation
                trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
                self.reply(200, json.dumps(invocation.event).encode(), {
                    "Lambda-Runtime-Aws-Request-Id": invocation.id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                    "Lambda-Runtime-Trace-Id": trace,
                })

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_error = body.decode(errors="replace")
                    return self.reply(202, b'{"status":"OK"}')
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    invocation = api.in_flight.pop(parts[1], None)
                    if invocation is None:
                        return self.reply(400, b'{"errorMessage":"unknown request id"}')
                    invocation.outcome = (parts[2], body.decode(errors="replace"))
                    invocation.done.set()
                    return self.reply(202, b'{"status":"OK"}')
                return self.reply(404, b'{"errorMessage":"not found"}')

        return Handler

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class FunctionProcess:
    """One function: its Runtime API and its `bootstrap` process."""

    def __init__(self, logical, configuration, bootstrap, extra_env, log_path, launcher=()):
        self.logical = logical
        self.name = configuration["FunctionName"]
        self.timeout = configuration.get("Timeout", 3)
        self.api = RuntimeApi(configuration["FunctionArn"], self.timeout)
        self.log_path = log_path
        self.env = lambda_environment(configuration, bootstrap.parent, self.api.port)
        self.env.update(extra_env)
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                [*launcher, str(bootstrap)], cwd=str(bootstrap.parent), env=self.env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def invoke(self, event):
        """Runs one invocation; returns ("response" | "error", payload text)."""
        invocation = Invocation(event)
        self.api.pending.put(invocation)
        deadline = time.monotonic() + self.timeout + 5
        while not invocation.done.wait(0.05):
            if self.process.poll() is not None:
                return ("crash", f"{self.logical} exited with {self.process.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                return ("timeout", f"{self.logical} did not answer within its {self.timeout} s timeout")
        return invocation.outcome

    def log_tail(self, lines=20):
        text = open(self.log_path, errors="replace").read().splitlines()
        return "\n".join(text[-lines:])

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.api.stop()


def lambda_environment(configuration, task_root, runtime_port):
    """The deployed function's variables, and those Lambda sets for a custom runtime."""
    env = dict(configuration.get("Environment", {}).get("Variables", {}))
    name = configuration["FunctionName"]
    logging = configuration.get("LoggingConfig", {})
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime_port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": configuration.get("Version", "$LATEST"),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration.get("MemorySize", 128)),
        "AWS_LAMBDA_LOG_GROUP_NAME": logging.get("LogGroup", f"/aws/lambda/{name}"),
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{configuration.get('Runtime', 'provided.al2023')}",
        "_HANDLER": configuration.get("Handler", "bootstrap"),
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(task_root),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
    })
    if logging.get("LogFormat") == "JSON":
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
    return env


def wait_until_polling(function, seconds=20):
    """Waits until the process asks for its first invocation: its cold start is done."""
    deadline = time.monotonic() + seconds
    while not function.api.polling.wait(0.02):
        if function.process.poll() is not None:
            raise AssertionError(f"{function.logical} stopped at start-up: {function.log_tail()}")
        if function.api.init_error:
            raise AssertionError(f"{function.logical} reported an init error: {function.api.init_error}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{function.logical} did not start within {seconds} s")
