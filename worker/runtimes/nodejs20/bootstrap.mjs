// Wisp Node.js 20 runtime interface client.
//
// Purpose: run a user's Lambda-style Node.js handler inside a Wisp worker by
// speaking the AWS Lambda Runtime API (version 2018-06-01) to the worker.
// Wisp's own implementation; uses only Node built-ins.
//
// Contract:
//   * Started as `node $LAMBDA_RUNTIME_DIR/bootstrap.mjs`, cwd = LAMBDA_TASK_ROOT.
//   * Environment: AWS_LAMBDA_RUNTIME_API (host:port), _HANDLER ("dir/module.a.b"),
//     LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION,
//     AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME,
//     AWS_LAMBDA_LOG_STREAM_NAME, AWS_REGION.
//   * Init: load the handler module (<module>.js|.mjs|.cjs, else Node resolution);
//     on failure POST /runtime/init/error and exit 1.
//   * Loop: GET /runtime/invocation/next (long poll, no timeout), run the handler,
//     POST /runtime/invocation/{id}/response or /error. Connection failure or a
//     non-200 on /next exits 1. A 4xx on /response or /error is logged to stderr
//     and the loop continues.
//   * An uncaught exception or unhandled rejection posts an error for the current
//     request (or the init error during init) and exits 129.
//   * console.* write one line per call to stdout:
//     "<ISO time>\t<request id>\t<LEVEL>\t<message>", newlines replaced by '\r'.
//   * SIGTERM exits 0 (unless user code installed its own SIGTERM handler).

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const API_PREFIX = '/2018-06-01/runtime';
const EXIT_CRASH = 129;
const env = process.env;
const apiBase = `http://${env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001'}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const runtimeRequire = createRequire(import.meta.url);

let currentRequestId; // shown in log lines; stays at the last id between invocations
let current = null; // the invocation in progress: { id, complete(err, value) }
let initDone = false;
let crashing = false;

// ---------------------------------------------------------------- logging

function writeLog(level, args) {
  const line = `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${util.format(...args)}`;
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function patchConsole() {
  const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE', fatal: 'FATAL' };
  for (const [method, level] of Object.entries(levels)) {
    console[method] = (...args) => writeLog(level, args);
  }
}

// ---------------------------------------------------------------- errors

const isError = (e) => e instanceof Error || util.types.isNativeError(e);

// An Error whose name (and therefore stack header) is a Lambda runtime error type.
function runtimeError(type, message, stack) {
  const Cls = class extends Error {};
  Object.defineProperty(Cls.prototype, 'name', { value: type });
  const err = new Cls(message);
  if (stack !== undefined) err.stack = stack;
  return err;
}

// Body of /error and /init/error: {errorType, errorMessage, trace}.
function errorPayload(err) {
  try {
    if (isError(err)) {
      return { errorType: String(err.name ?? 'Error'), errorMessage: String(err.message ?? ''), trace: String(err.stack ?? '').split('\n') };
    }
    return { errorType: typeof err, errorMessage: String(err), trace: [] };
  } catch {
    return { errorType: 'handled', errorMessage: 'error value could not be converted (name, message or stack unreadable)', trace: [] };
  }
}

// Log form of an error, as Lambda prints it after "Invoke Error" / "Uncaught Exception".
function errorForLog(err) {
  try {
    if (isError(err)) {
      return '\t' + JSON.stringify({ errorType: err.name, errorMessage: err.message, code: err.code, ...err, stack: String(err.stack ?? '').split('\n') });
    }
    return '\t' + JSON.stringify(errorPayload(err));
  } catch {
    return '\t' + JSON.stringify(errorPayload(err));
  }
}

// Header values must be plain visible ASCII.
const headerSafe = (s) => String(s).replace(/[^\x20-\x7e]/g, '?');

// ---------------------------------------------------------------- Runtime API HTTP

function apiRequest(method, apiPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const opts = { method, agent, headers: { ...headers } };
    if (body !== undefined) {
      body = Buffer.from(body, 'utf8');
      opts.headers['Content-Type'] = 'application/json';
      opts.headers['Content-Length'] = body.length;
    }
    const req = http.request(new URL(API_PREFIX + apiPath, apiBase), opts, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject); // no timeout is set: /next may legitimately wait forever
    req.end(body);
  });
}

// POST a result; 4xx/5xx answers are reported on stderr, connection loss is fatal.
async function post(apiPath, body, headers) {
  let res;
  try {
    res = await apiRequest('POST', apiPath, body, headers);
  } catch (e) {
    process.stderr.write(`wisp-runtime: POST ${apiPath} failed: ${e.message}\n`);
    process.exit(1);
  }
  if (res.status < 200 || res.status > 299) {
    process.stderr.write(`wisp-runtime: POST ${apiPath} answered ${res.status}: ${res.body}\n`);
  }
}

function postError(apiPath, err) {
  const payload = errorPayload(err);
  return post(apiPath, JSON.stringify(payload), { 'Lambda-Runtime-Function-Error-Type': headerSafe(payload.errorType) });
}

async function nextInvocation() {
  let res;
  try {
    res = await apiRequest('GET', '/invocation/next');
  } catch (e) {
    process.stderr.write(`wisp-runtime: GET /invocation/next failed: ${e.message}\n`);
    process.exit(1);
  }
  if (res.status !== 200) {
    process.stderr.write(`wisp-runtime: GET /invocation/next answered ${res.status}: ${res.body}\n`);
    process.exit(1);
  }
  return res;
}

// ---------------------------------------------------------------- handler loading

function findNearestPackageType(dir) {
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      try {
        return JSON.parse(fs.readFileSync(file, 'utf8')).type;
      } catch {
        return undefined;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

async function loadModuleFile(file) {
  const ext = path.extname(file);
  const isEsm = ext === '.mjs' || (ext === '.js' && findNearestPackageType(path.dirname(file)) === 'module');
  if (isEsm) return { mod: await import(pathToFileURL(file).href), esm: true };
  return { mod: runtimeRequire(file), esm: false };
}

async function loadHandler() {
  const full = env._HANDLER ?? '';
  const taskRoot = env.LAMBDA_TASK_ROOT || process.cwd();
  if (full.includes('..')) throw runtimeError('Runtime.MalformedHandlerName', "'../' not allowed in handler name. Use absolute paths.");
  const slash = full.lastIndexOf('/');
  const moduleRoot = full.slice(0, slash + 1); // "" or "src/"
  const m = /^([^.]+)\.(.+)$/.exec(full.slice(slash + 1));
  if (!m) throw runtimeError('Runtime.MalformedHandlerName', 'Bad handler');
  const [, moduleName, propPath] = m;
  const base = path.resolve(taskRoot, moduleRoot, moduleName);

  let loaded;
  try {
    const file = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((f) => fs.existsSync(f));
    // Fall back to Node resolution (e.g. a package in node_modules), like Lambda.
    loaded = await loadModuleFile(file ?? runtimeRequire.resolve(moduleName, { paths: [path.dirname(base)] }));
  } catch (e) {
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND')) {
      throw runtimeError('Runtime.ImportModuleError', String(e));
    }
    if (e instanceof SyntaxError) throw runtimeError('Runtime.UserCodeSyntaxError', String(e), e.stack);
    throw e;
  }

  const walk = (obj) => propPath.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
  let fn = walk(loaded.mod);
  if (fn === undefined && loaded.esm && loaded.mod.default != null) fn = walk(loaded.mod.default);
  if (!fn) throw runtimeError('Runtime.HandlerNotFound', `${full} is undefined or not exported`);
  if (typeof fn !== 'function') throw runtimeError('Runtime.HandlerNotFound', `${full} is not a function`);
  return fn;
}

// ---------------------------------------------------------------- invocation

function parseJsonHeader(value) {
  if (value === undefined || value === '') return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function runInvocation(handler, next) {
  const h = next.headers;
  const id = h['lambda-runtime-aws-request-id'];
  const deadline = Number(h['lambda-runtime-deadline-ms']);
  const traceId = h['lambda-runtime-trace-id'];
  if (traceId) env._X_AMZN_TRACE_ID = traceId;
  else delete env._X_AMZN_TRACE_ID;
  currentRequestId = id;
  const idPath = `/invocation/${encodeURIComponent(id)}`;

  return new Promise((resolveDone) => {
    let finished = false;
    // First completion wins; later ones are ignored.
    const complete = async (err, value) => {
      if (finished) return;
      finished = true;
      if (err != null) {
        writeLog('ERROR', ['Invoke Error', errorForLog(err)]);
        await postError(idPath + '/error', err);
      } else {
        let body;
        try {
          body = JSON.stringify(value === undefined ? null : value) ?? 'null';
        } catch {
          body = undefined;
        }
        if (body === undefined) await postError(idPath + '/error', new Error('Unable to stringify response body'));
        else await post(idPath + '/response', body);
      }
      if (current && current.id === id) current = null;
      resolveDone();
    };
    current = { id, complete };

    // Note: Lambda defers a callback result until the event loop is empty when
    // callbackWaitsForEmptyEventLoop is true; Wisp treats the callback as final
    // immediately in both cases (the flag exists for compatibility only).
    const callback = (err, value) => complete(err, value);
    const context = {
      callbackWaitsForEmptyEventLoop: true,
      functionName: env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
      invokedFunctionArn: h['lambda-runtime-invoked-function-arn'],
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      awsRequestId: id,
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
      identity: parseJsonHeader(h['lambda-runtime-cognito-identity']),
      clientContext: parseJsonHeader(h['lambda-runtime-client-context']),
      getRemainingTimeInMillis: () => deadline - Date.now(),
      succeed: (value) => complete(null, value),
      fail: (err) => complete(err == null ? 'handled' : err),
      done: (err, value) => complete(err, value),
    };

    let event;
    try {
      event = JSON.parse(next.body);
    } catch (e) {
      complete(runtimeError('Runtime.UnmarshalError', `Unable to parse event body as JSON: ${e.message}`));
      return;
    }
    try {
      const result = handler(event, context, callback);
      if (result && typeof result.then === 'function') {
        result.then((v) => complete(null, v), (e) => context.fail(e));
      }
      // Otherwise: callback-style; completion comes from callback/succeed/fail/done,
      // or from the 'beforeExit' fallback below if the event loop drains first.
    } catch (e) {
      context.fail(e);
    }
  });
}

// ---------------------------------------------------------------- process-level hooks

function crash(label, err) {
  if (crashing) return;
  crashing = true;
  writeLog('ERROR', [label, errorForLog(err)]);
  let target;
  if (current) target = `/invocation/${encodeURIComponent(current.id)}/error`;
  else if (!initDone) target = '/init/error';
  const done = () => process.exit(EXIT_CRASH);
  if (target) postError(target, err).then(done, done);
  else done();
}

process.on('uncaughtException', (err) => crash('Uncaught Exception', err));
process.on('unhandledRejection', (reason) => {
  let message;
  try {
    message = reason?.toString();
  } catch {
    message = 'unprintable rejection reason';
  }
  crash('Unhandled Promise Rejection', runtimeError('Runtime.UnhandledPromiseRejection', message));
});
// Event loop drained while an invocation is pending and nothing will complete
// it (non-promise return without callback, or a never-settling promise):
// Lambda answers null in that case.
process.on('beforeExit', () => {
  if (current) current.complete(null, null);
});
process.on('SIGTERM', () => {
  if (process.listenerCount('SIGTERM') === 1) process.exit(0);
});

// ---------------------------------------------------------------- main

async function main() {
  patchConsole();
  let handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    crashing = true;
    writeLog('ERROR', ['Uncaught Exception', errorForLog(err)]);
    await postError('/init/error', err);
    process.exit(1);
  }
  initDone = true;
  for (;;) {
    const next = await nextInvocation();
    await runInvocation(handler, next);
  }
}

main();
