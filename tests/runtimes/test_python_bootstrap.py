"""Tests for Wisp's Python runtime interface client (worker/runtimes/python3.11/bootstrap.py).

Each test starts an in-process mock of the Lambda Runtime API (2018-06-01),
writes handler code into a temporary task root, launches bootstrap.py as a
subprocess against it, and checks what the runtime posts back and prints.

Run from the repository root:  python3 -m unittest tests/runtimes/test_python_bootstrap.py
"""

import http.server
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUNTIME_DIR = os.path.join(REPO_ROOT, "worker", "runtimes", "python3.11")
BOOTSTRAP = os.path.join(RUNTIME_DIR, "bootstrap.py")
PREFIX = "/2018-06-01/runtime"
TIMEOUT = 10.0  # generous per-step deadline; steps normally take milliseconds
ARN = "arn:aws:lambda:us-east-1:123456789012:function:testfn"


class MockRuntimeAPI(http.server.ThreadingHTTPServer):
    """Hands out queued events on /next and records every POST."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), MockHandler)
        self.events = queue.Queue()
        self.posts = []          # dicts: path, headers, body
        self.cond = threading.Condition()
        self.response_status = {}  # request id -> status code for its /response
        self.next_status = None  # if set, /next answers with this status
        self.drop_after_post = False  # silently close the connection after each POST
        self.connections = 0
        self.closing = False
        self.thread = threading.Thread(target=self.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.server_address[1]

    def record(self, entry):
        with self.cond:
            self.posts.append(entry)
            self.cond.notify_all()

    def wait_post(self, predicate, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for entry in self.posts:
                    if predicate(entry):
                        return entry
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("no matching POST; got %r" % self.posts)
                self.cond.wait(remaining)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # runtime killed mid-request
            super().handle_error(request, client_address)

    def stop(self):
        self.closing = True
        self.shutdown()
        self.server_close()


class MockHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.server.connections += 1

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != PREFIX + "/invocation/next":
            return self.reply(404, b'{"errorType":"NotFound"}')
        if self.server.next_status is not None:
            return self.reply(self.server.next_status, b'{"errorType":"ServiceError"}')
        while True:  # long poll; give up only when the server is shutting down
            try:
                request_id, body, headers = self.server.events.get(timeout=0.05)
                break
            except queue.Empty:
                if self.server.closing:
                    self.close_connection = True
                    return
        self.reply(200, body, dict(headers, **{"Lambda-Runtime-Aws-Request-Id": request_id,
                                                "Content-Type": "application/json"}))

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.record({"path": self.path, "headers": dict(self.headers), "body": body})
        status = 202
        match = re.fullmatch(PREFIX + r"/invocation/([^/]+)/response", self.path)
        if match:
            status = self.server.response_status.get(match.group(1), 202)
        if status == 202:
            self.reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
            self.close_connection = self.server.drop_after_post
        else:
            self.reply(status, b'{"errorType":"RequestEntityTooLarge","errorMessage":"too big"}',
                       {"Content-Type": "application/json"})


class LineCollector:
    """Collects a pipe's output line by line (split on '\\n' only) from a thread."""

    def __init__(self, pipe):
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.thread.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8").rstrip("\n"))
                self.cond.notify_all()
        pipe.close()

    def wait_line(self, predicate, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("no matching line; got %r" % self.lines)
                self.cond.wait(remaining)


class BootstrapTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.task_root = self.tmp.name
        self.api = MockRuntimeAPI()
        self.proc = None
        self.counter = 0

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(TIMEOUT)
            self.stdout.thread.join(TIMEOUT)
            self.stderr.thread.join(TIMEOUT)
        self.api.stop()
        self.tmp.cleanup()

    # -- helpers -------------------------------------------------------------

    def write(self, relpath, source):
        path = os.path.join(self.task_root, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(source))

    def start(self, handler, **extra_env):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "_X_AMZN", "PYTHON"))}
        env.update({
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": self.task_root,
            "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
            "AWS_LAMBDA_FUNCTION_NAME": "testfn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/testfn",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abc",
            "AWS_REGION": "us-east-1",
        })
        env.update(extra_env)
        self.proc = subprocess.Popen(
            [sys.executable, "-u", BOOTSTRAP], cwd=self.task_root, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stdout = LineCollector(self.proc.stdout)
        self.stderr = LineCollector(self.proc.stderr)

    def enqueue(self, body, headers=None, request_id=None):
        self.counter += 1
        request_id = request_id or "req-%d" % self.counter
        all_headers = {"Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30000),
                       "Lambda-Runtime-Invoked-Function-Arn": ARN}
        all_headers.update(headers or {})
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.api.events.put((request_id, body, all_headers))
        return request_id

    def result_of(self, request_id):
        prefix = "%s/invocation/%s/" % (PREFIX, request_id)
        return self.api.wait_post(lambda p: p["path"] in (prefix + "response", prefix + "error"))

    def invoke(self, event, headers=None, raw=False):
        request_id = self.enqueue(event if raw else json.dumps(event), headers)
        post = self.result_of(request_id)
        return request_id, post

    def wait_exit(self):
        try:
            return self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("runtime did not exit")

    def assertResponse(self, request_id, post):
        self.assertEqual(post["path"], "%s/invocation/%s/response" % (PREFIX, request_id),
                         post["body"])
        return json.loads(post["body"])

    def assertError(self, request_id, post, error_type, message):
        self.assertEqual(post["path"], "%s/invocation/%s/error" % (PREFIX, request_id))
        self.assertEqual(post["headers"].get("Lambda-Runtime-Function-Error-Type"), "Unhandled")
        doc = json.loads(post["body"])
        self.assertEqual(set(doc), {"errorMessage", "errorType", "requestId", "stackTrace"})
        self.assertEqual(doc["errorType"], error_type)
        self.assertEqual(doc["errorMessage"], message)
        self.assertEqual(doc["requestId"], request_id)
        return doc

    def init_error(self):
        post = self.api.wait_post(lambda p: p["path"] == PREFIX + "/init/error")
        self.assertEqual(self.wait_exit(), 1)
        doc = json.loads(post["body"])
        self.assertEqual(set(doc), {"errorMessage", "errorType", "requestId", "stackTrace"})
        self.assertEqual(doc["requestId"], "")
        self.assertEqual(post["headers"].get("Lambda-Runtime-Function-Error-Type"), doc["errorType"])
        return doc

    # -- tests ---------------------------------------------------------------

    def test_success_with_context(self):
        self.write("app.py", """
            import decimal
            def handler(event, context):
                cc, ident = context.client_context, context.identity
                return {
                    "event": event,
                    "request_id": context.aws_request_id,
                    "remaining": context.get_remaining_time_in_millis(),
                    "function_name": context.function_name,
                    "function_version": context.function_version,
                    "memory": context.memory_limit_in_mb,
                    "memory_is_int": isinstance(context.memory_limit_in_mb, int),
                    "arn": context.invoked_function_arn,
                    "log_group": context.log_group_name,
                    "log_stream": context.log_stream_name,
                    "cc_installation": cc.client.installation_id,
                    "cc_custom": cc.custom,
                    "cc_env": cc.env,
                    "identity": [ident.cognito_identity_id, ident.cognito_identity_pool_id],
                    "decimals": [decimal.Decimal("3"), decimal.Decimal("2.5")],
                }
        """)
        self.start("app.handler")
        client_context = {"client": {"installation_id": "inst-1", "app_title": "t"},
                          "custom": {"k": "v"}, "env": {"platform": "linux"}}
        identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
        request_id, post = self.invoke({"hello": "world"}, {
            "Lambda-Runtime-Client-Context": json.dumps(client_context),
            "Lambda-Runtime-Cognito-Identity": json.dumps(identity)})
        result = self.assertResponse(request_id, post)
        self.assertEqual(post["headers"].get("Content-Type"), "application/json")
        self.assertEqual(result["event"], {"hello": "world"})
        self.assertEqual(result["request_id"], request_id)
        self.assertGreater(result["remaining"], 0)
        self.assertLessEqual(result["remaining"], 30000)
        self.assertEqual(result["function_name"], "testfn")
        self.assertEqual(result["function_version"], "$LATEST")
        self.assertEqual(result["memory"], 256)
        self.assertTrue(result["memory_is_int"])
        self.assertEqual(result["arn"], ARN)
        self.assertEqual(result["log_group"], "/aws/lambda/testfn")
        self.assertEqual(result["log_stream"], "2024/01/01/[$LATEST]abc")
        self.assertEqual(result["cc_installation"], "inst-1")
        self.assertEqual(result["cc_custom"], {"k": "v"})
        self.assertEqual(result["cc_env"], {"platform": "linux"})
        self.assertEqual(result["identity"], ["id-1", "pool-1"])
        self.assertEqual(result["decimals"], [3, 2.5])
        self.assertIsInstance(result["decimals"][0], int)

    def test_context_without_optional_headers(self):
        self.write("app.py", """
            def handler(event, context):
                return [context.client_context is None,
                        context.identity.cognito_identity_id,
                        context.identity.cognito_identity_pool_id]
        """)
        self.start("app.handler")
        request_id, post = self.invoke(None)
        self.assertEqual(self.assertResponse(request_id, post), [True, None, None])

    def test_handler_exception(self):
        self.write("app.py", """
            def helper():
                raise ValueError("boom")

            def handler(event, context):
                helper()
        """)
        self.start("app.handler")
        request_id, post = self.invoke({})
        doc = self.assertError(request_id, post, "ValueError", "boom")
        app = os.path.join(self.task_root, "app.py")
        self.assertEqual(doc["stackTrace"], [
            '  File "%s", line 6, in handler\n    helper()\n' % app,
            '  File "%s", line 3, in helper\n    raise ValueError("boom")\n' % app,
        ])
        line = self.stdout.wait_line(lambda l: l.startswith("[ERROR] ValueError: boom"))
        parts = line.split("\r")
        self.assertEqual(parts[0], "[ERROR] ValueError: boom")
        self.assertEqual(parts[1], "Traceback (most recent call last):")
        self.assertEqual(parts[2], '\u00a0\u00a0File "%s", line 6, in handler' % app)
        self.assertEqual(parts[3], "\u00a0\u00a0\u00a0\u00a0helper()")
        # The runtime survives and serves the next event.
        request_id, post = self.invoke({})
        self.assertEqual(post["path"], "%s/invocation/%s/error" % (PREFIX, request_id))

    def test_init_error_module_missing(self):
        self.start("app.handler")
        doc = self.init_error()
        self.assertEqual(doc["errorType"], "Runtime.ImportModuleError")
        self.assertEqual(doc["errorMessage"], "Unable to import module 'app': No module named 'app'")

    def test_init_error_syntax(self):
        self.write("app.py", "import os\n\nx = = 1\n")
        self.start("app.handler")
        doc = self.init_error()
        self.assertEqual(doc["errorType"], "Runtime.UserCodeSyntaxError")
        self.assertEqual(doc["errorMessage"],
                         "Syntax error in module 'app': invalid syntax (app.py, line 3)")
        self.assertEqual(len(doc["stackTrace"]), 1)
        self.assertIn("Line 3", doc["stackTrace"][0])

    def test_init_error_handler_missing(self):
        self.write("app.py", "def handler(event, context):\n    return 1\n")
        self.start("app.nope")
        doc = self.init_error()
        self.assertEqual(doc["errorType"], "Runtime.HandlerNotFound")
        self.assertEqual(doc["errorMessage"], "Handler 'nope' missing on module 'app'")

    def test_init_error_malformed_handler(self):
        self.start("x")
        doc = self.init_error()
        self.assertEqual(doc["errorType"], "Runtime.MalformedHandlerName")
        self.assertEqual(doc["errorMessage"],
                         "Bad handler 'x': not enough values to unpack (expected 2, got 1)")
        self.stdout.wait_line(lambda l: l.startswith("[ERROR] Runtime.MalformedHandlerName: "))

    def test_init_error_other_exception(self):
        self.write("app.py", "import os\nraise RuntimeError('no config')\n")
        self.start("app.handler")
        doc = self.init_error()
        self.assertEqual(doc["errorType"], "RuntimeError")
        self.assertEqual(doc["errorMessage"], "no config")
        self.assertEqual(len(doc["stackTrace"]), 1)
        self.assertIn('app.py", line 2, in <module>', doc["stackTrace"][0])

    def test_unmarshal_error(self):
        self.write("app.py", "def handler(event, context):\n    return event\n")
        self.start("app.handler")
        request_id, post = self.invoke("{not json", raw=True)
        self.assertError(request_id, post, "Runtime.UnmarshalError",
                         "Unable to unmarshal input: Expecting property name enclosed in "
                         "double quotes: line 1 column 2 (char 1)")
        request_id, post = self.invoke("", raw=True)
        self.assertError(request_id, post, "Runtime.UnmarshalError",
                         "Unable to unmarshal input: Expecting value: line 1 column 1 (char 0)")

    def test_marshal_error(self):
        self.write("app.py", "def handler(event, context):\n    return {'s': {1, 2}}\n")
        self.start("app.handler")
        request_id, post = self.invoke({})
        doc = self.assertError(request_id, post, "Runtime.MarshalError",
                               "Unable to marshal response: Object of type set is not JSON serializable")
        self.assertEqual(doc["stackTrace"], [])

    def test_trace_id_env(self):
        self.write("app.py", """
            import os
            def handler(event, context):
                return os.environ.get("_X_AMZN_TRACE_ID")
        """)
        self.start("app.handler")
        trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        request_id, post = self.invoke({}, {"Lambda-Runtime-Trace-Id": trace})
        self.assertEqual(self.assertResponse(request_id, post), trace)
        request_id, post = self.invoke({})
        self.assertIsNone(self.assertResponse(request_id, post))

    def test_nested_module_slash(self):
        self.write("pkg/__init__.py", "")
        self.write("pkg/mod.py", "def fn(event, context):\n    return {'nested': event}\n")
        self.start("pkg/mod.fn")
        request_id, post = self.invoke(7)
        self.assertEqual(self.assertResponse(request_id, post), {"nested": 7})

    def test_nested_module_dotted(self):
        self.write("pkg/sub/mod.py", "def fn(event, context):\n    return 'dotted'\n")
        self.start("pkg.sub.mod.fn")
        request_id, post = self.invoke({})
        self.assertEqual(self.assertResponse(request_id, post), "dotted")

    def test_logging_format_and_print(self):
        self.write("app.py", """
            import logging
            logger = logging.getLogger()
            def handler(event, context):
                print("plain print")
                logger.info("not shown at default level")
                logger.warning("careful %s", event)
                return None
        """)
        self.start("app.handler")
        request_id, post = self.invoke("x")
        self.assertResponse(request_id, post)
        self.stdout.wait_line(lambda l: l == "plain print")
        line = self.stdout.wait_line(lambda l: l.startswith("[WARNING]"))
        self.assertRegex(line, r"^\[WARNING\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t"
                         + re.escape(request_id) + r"\tcareful x$")
        self.assertFalse(any("not shown" in l for l in self.stdout.lines))

    def test_log_level_env(self):
        self.write("app.py", """
            import logging
            def handler(event, context):
                logging.getLogger("mine").debug("debug line\\nsecond")
                return 1
        """)
        self.start("app.handler", AWS_LAMBDA_LOG_LEVEL="DEBUG")
        request_id, post = self.invoke({})
        self.assertResponse(request_id, post)
        line = self.stdout.wait_line(lambda l: l.startswith("[DEBUG]"))
        self.assertTrue(line.endswith("\t%s\tdebug line\rsecond" % request_id), repr(line))

    def test_continues_after_413(self):
        self.write("app.py", "def handler(event, context):\n    return 'x' * event\n")
        self.start("app.handler")
        self.api.response_status["big"] = 413
        self.enqueue("100000", request_id="big")
        self.result_of("big")
        self.stderr.wait_line(lambda l: "413" in l)
        request_id, post = self.invoke(3)
        self.assertEqual(self.assertResponse(request_id, post), "xxx")
        self.assertIsNone(self.proc.poll())

    def test_keep_alive_single_connection(self):
        self.write("app.py", "def handler(event, context):\n    return event\n")
        self.start("app.handler")
        for i in range(5):
            request_id, post = self.invoke(i)
            self.assertEqual(self.assertResponse(request_id, post), i)
        self.assertEqual(self.api.connections, 1)

    def test_reconnects_after_dropped_connection(self):
        self.write("app.py", "def handler(event, context):\n    return event\n")
        self.api.drop_after_post = True
        self.start("app.handler")
        for i in range(3):
            request_id, post = self.invoke(i)
            self.assertEqual(self.assertResponse(request_id, post), i)
        self.assertGreaterEqual(self.api.connections, 3)
        self.assertIsNone(self.proc.poll())

    def test_sigterm_exits_zero(self):
        self.write("app.py", "def handler(event, context):\n    return event\n")
        self.start("app.handler")
        request_id, post = self.invoke(1)  # runtime is now initialised and polling /next
        self.assertResponse(request_id, post)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.wait_exit(), 0)

    def test_next_failure_exits_nonzero(self):
        self.write("app.py", "def handler(event, context):\n    return event\n")
        self.api.next_status = 500
        self.start("app.handler")
        self.assertNotEqual(self.wait_exit(), 0)


if __name__ == "__main__":
    unittest.main()
