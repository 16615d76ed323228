"""Wisp runtime interface client for Python 3.11 (stdlib only).

The Wisp worker starts this file as ``python3 -u $LAMBDA_RUNTIME_DIR/bootstrap.py``
with the working directory set to LAMBDA_TASK_ROOT and a Lambda-style
environment (AWS_LAMBDA_RUNTIME_API, _HANDLER, AWS_LAMBDA_FUNCTION_NAME, ...).

Contract (AWS Lambda Runtime API, version 2018-06-01):

* Init: LAMBDA_TASK_ROOT is put first on sys.path and _HANDLER
  ("module.function"; the module path may use '/' or '.', the split is on the
  last dot) is imported.  A failure is POSTed to /runtime/init/error with the
  Lambda error type in ``Lambda-Runtime-Function-Error-Type``, then the
  process exits with status 1.
* Loop: GET /runtime/invocation/next (long poll, no timeout) over one
  keep-alive connection, call ``handler(event, context)`` and POST the JSON
  result to /runtime/invocation/{id}/response, or an error document
  ``{"errorMessage", "errorType", "requestId", "stackTrace"}`` to
  /runtime/invocation/{id}/error (error type header ``Unhandled``).
  A non-2xx answer to a POST is logged to stderr and the loop goes on; a
  failure of /next ends the process with a non-zero status.
* Logging: the root logger gets a handler writing
  ``[LEVEL]\\t<UTC time>Z\\t<request id>\\t<message>`` to stdout; the root level
  stays Python's default (WARNING) unless AWS_LAMBDA_LOG_LEVEL is set.
  stdout/stderr are line-flushed.  Each log record and each error report is
  written as one line (embedded newlines become '\\r', as Lambda does for
  error reports).
* SIGTERM ends the process promptly with status 0.
"""

import decimal
import http.client
import importlib
import json
import logging
import os
import signal
import sys
import time
import traceback

API_PREFIX = "/2018-06-01/runtime"
THIS_FILE = os.path.abspath(__file__)
IMPORTLIB_DIR = os.path.dirname(importlib.__file__) + os.sep
NBSP = "\u00a0"

_request_id = None  # id of the invocation in progress, shown in log records


class Fault(Exception):
    """An error detected by the runtime itself, with a Lambda error type."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type, self.message, self.trace = error_type, message, trace


def error_document(message, error_type, trace, request_id=""):
    return {"errorMessage": message or "", "errorType": error_type or "",
            "requestId": request_id or "", "stackTrace": trace or []}


def user_frames(tb):
    """Format a traceback, dropping the leading frames of the runtime and importlib."""
    frames = traceback.extract_tb(tb)
    while frames and (frames[0].filename == THIS_FILE
                      or frames[0].filename.startswith((IMPORTLIB_DIR, "<frozen importlib"))):
        frames = frames[1:]
    return traceback.format_list(frames)


def document_from_exception(exc, request_id=""):
    return error_document(str(exc), type(exc).__name__,
                          user_frames(exc.__traceback__), request_id)


def log_error(doc):
    """Print an error report the way Lambda does: one record, lines joined by '\\r'."""
    head = "[ERROR]"
    if doc["errorType"]:
        head += " " + doc["errorType"] + (":" if doc["errorMessage"] else "")
    if doc["errorMessage"]:
        head += " " + doc["errorMessage"]
    lines = [head, "Traceback (most recent call last):"]
    for element in doc["stackTrace"]:
        for line in element.splitlines() or [""]:
            stripped = line.lstrip(" ")
            lines.append(NBSP * (len(line) - len(stripped)) + stripped)
    sys.stdout.write("\r".join(lines) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- HTTP client

class RuntimeAPIError(Exception):
    pass


class RuntimeClient:
    """Runtime API client over one persistent HTTP/1.1 connection."""

    def __init__(self, address):
        self.address = address
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.address, timeout=None)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()  # always drain, so the connection can be reused
                return resp.status, resp.headers, data
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise

    def next_invocation(self):
        status, headers, body = self.request("GET", API_PREFIX + "/invocation/next")
        if status != 200:
            raise RuntimeAPIError("GET /invocation/next returned %d: %r" % (status, body[:512]))
        return headers, body

    def post(self, path, body, headers):
        headers = dict(headers, **{"Content-Length": str(len(body))})
        try:
            status, _, data = self.request("POST", API_PREFIX + path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            sys.stderr.write("wisp-runtime: POST %s failed: %s\n" % (path, exc))
            return False
        if status // 100 != 2:
            sys.stderr.write("wisp-runtime: POST %s returned %d: %s\n"
                             % (path, status, data[:512].decode("utf-8", "replace")))
            return False
        return True

    def post_error(self, path, doc, error_type):
        body = json.dumps(doc).encode("utf-8")
        return self.post(path, body, {"Content-Type": "application/json",
                                      "Lambda-Runtime-Function-Error-Type": error_type})


# -------------------------------------------------------------------- context

class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")


class Client:
    __slots__ = ("installation_id", "app_title", "app_version_name",
                 "app_version_code", "app_package_name")


class ClientContext:
    __slots__ = ("client", "custom", "env")


def object_from(cls, values):
    obj = cls()
    for name in cls.__slots__:
        setattr(obj, name, values.get(name))
    return obj


def parse_json_header(value, what):
    try:
        return json.loads(value)
    except Exception as exc:
        raise Fault("Runtime.LambdaContextUnmarshalError",
                    "Unable to parse %s JSON: %s" % (what, exc))


class LambdaContext:
    def __init__(self, request_id, deadline_ms, arn, client_context, identity):
        env = os.environ.get
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = env("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env("AWS_LAMBDA_FUNCTION_VERSION")
        self.log_group_name = env("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env("AWS_LAMBDA_LOG_STREAM_NAME")
        try:
            self.memory_limit_in_mb = int(env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", ""))
        except ValueError:
            self.memory_limit_in_mb = None
        self._deadline_ms = deadline_ms
        self.identity = object_from(CognitoIdentity, {})
        if identity:
            self.identity.cognito_identity_id = identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")
        self.client_context = None
        if client_context is not None:
            self.client_context = object_from(ClientContext, client_context)
            if isinstance(self.client_context.client, dict):
                self.client_context.client = object_from(Client, self.client_context.client)

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self):
        return "LambdaContext(aws_request_id=%r, function_name=%r)" % (
            self.aws_request_id, self.function_name)


# -------------------------------------------------------------------- logging

class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id or ""
        return True


class StdoutHandler(logging.Handler):
    def emit(self, record):
        try:
            text = self.format(record)
            sys.stdout.write(text.replace("\n", "\r") + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def setup_logging():
    logging.Formatter.converter = time.gmtime  # Lambda logs in UTC
    handler = StdoutHandler()
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    level = {"TRACE": "DEBUG"}.get(level, level)
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)


# --------------------------------------------------------------- init/invoke

def load_handler(spec):
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise Fault("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (spec, exc))
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise Fault("Runtime.BuiltInModuleConflict",
                    "Cannot use built-in module %s as a handler module" % module_name)
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise Fault("Runtime.ImportModuleError",
                    "Unable to import module '%s': %s" % (module_name, exc))
    except SyntaxError as exc:
        trace = ['  File "%s" Line %s\n    %s' % (exc.filename, exc.lineno, exc.text)]
        raise Fault("Runtime.UserCodeSyntaxError",
                    "Syntax error in module '%s': %s" % (module_name, exc), trace)
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise Fault("Runtime.HandlerNotFound",
                    "Handler '%s' missing on module '%s'" % (function_name, module_name))


class ResultEncoder(json.JSONEncoder):
    def default(self, obj):
        if isinstance(obj, decimal.Decimal):
            if obj.is_finite() and obj.as_tuple().exponent >= 0:
                return int(obj)
            return float(obj)
        return super().default(obj)


def invoke(client, handler, headers, body):
    request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
    try:
        cc = headers.get("Lambda-Runtime-Client-Context")
        ci = headers.get("Lambda-Runtime-Cognito-Identity")
        context = LambdaContext(
            request_id, int(headers.get("Lambda-Runtime-Deadline-Ms") or 0),
            headers.get("Lambda-Runtime-Invoked-Function-Arn"),
            parse_json_header(cc, "Client Context") if cc else None,
            parse_json_header(ci, "Cognito Identity") if ci else None)
        try:
            event = json.loads(body)
        except Exception as exc:
            raise Fault("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % exc)
        result = handler(event, context)
        if isinstance(result, (bytes, bytearray)):
            payload, content_type = bytes(result), "application/unknown"
        else:
            try:
                payload = json.dumps(result, cls=ResultEncoder).encode("utf-8")
            except Exception as exc:
                raise Fault("Runtime.MarshalError", "Unable to marshal response: %s" % exc)
            content_type = "application/json"
    except Fault as fault:
        doc = error_document(fault.message, fault.error_type, fault.trace, request_id)
    except Exception as exc:
        doc = document_from_exception(exc, request_id)
    else:
        client.post("/invocation/%s/response" % request_id, payload,
                    {"Content-Type": content_type})
        return
    log_error(doc)
    client.post_error("/invocation/%s/error" % request_id, doc, "Unhandled")


def on_sigterm(signum, frame):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)


def main():
    global _request_id
    signal.signal(signal.SIGTERM, on_sigterm)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True, write_through=True)
    setup_logging()

    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    sys.path.insert(0, task_root)

    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except Fault as fault:
        doc = error_document(fault.message, fault.error_type, fault.trace)
    except Exception as exc:
        doc = document_from_exception(exc)
    else:
        doc = None
    if doc is not None:
        log_error(doc)
        client.post_error("/init/error", doc, doc["errorType"])
        return 1

    while True:
        try:
            headers, body = client.next_invocation()
        except (OSError, http.client.HTTPException, RuntimeAPIError) as exc:
            sys.stderr.write("wisp-runtime: cannot get next invocation: %s\n" % exc)
            return 2
        _request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        trace_id = headers.get("Lambda-Runtime-Trace-Id")
        if trace_id is not None:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        invoke(client, handler, headers, body)


if __name__ == "__main__":
    sys.exit(main())
