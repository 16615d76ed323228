// Tests for worker/runtimes/nodejs20/bootstrap.mjs (Wisp's Node.js runtime
// interface client). Each test starts an in-process mock of the Lambda
// Runtime API (2018-06-01), writes handler files to a temp dir, runs the
// bootstrap as a child process against them and checks what it posted.
// Run: node --test tests/runtimes/

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BOOTSTRAP = path.join(ROOT, 'worker', 'runtimes', 'nodejs20', 'bootstrap.mjs');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-node-rt-'));
const WAIT_MS = 8000;
const cleanups = [];

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  fs.rmSync(TMP, { recursive: true, force: true });
});

// Resolves when pred() becomes truthy, re-checked on every emitter event.
function waitFor(emitter, pred, what) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const v = pred();
      if (v) {
        clearTimeout(timer);
        emitter.off('change', check);
        resolve(v);
      }
    };
    const timer = setTimeout(() => {
      emitter.off('change', check);
      reject(new Error(`timed out waiting for ${what}`));
    }, WAIT_MS);
    emitter.on('change', check);
    check();
  });
}

// Mock Runtime API. events: [{ id, body, headers }]; /next holds when the queue is empty.
async function startApi({ responseStatus } = {}) {
  const api = new EventEmitter();
  api.queue = [];
  api.posts = [];
  api.nextCalls = 0;
  const waiting = [];
  const serve = (res) => {
    const ev = api.queue.shift();
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Aws-Request-Id': ev.id,
      'Lambda-Runtime-Deadline-Ms': String(Date.now() + 30000),
      'Lambda-Runtime-Invoked-Function-Arn': `arn:aws:lambda:us-east-1:123456789012:function:fn`,
      ...ev.headers,
    });
    res.end(typeof ev.body === 'string' ? ev.body : JSON.stringify(ev.body ?? {}));
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/2018-06-01/runtime/invocation/next') {
        api.nextCalls++;
        if (api.queue.length) serve(res);
        else {
          // A runtime that dies while long-polling must not swallow the next event.
          waiting.push(res);
          res.on('close', () => {
            const i = waiting.indexOf(res);
            if (i >= 0) waiting.splice(i, 1);
            api.emit('change');
          });
        }
      } else {
        const body = Buffer.concat(chunks).toString('utf8');
        const rec = { url: req.url, headers: req.headers, body, json: safeJson(body) };
        api.posts.push(rec);
        const status = responseStatus ? responseStatus(rec, api.posts.length) : 202;
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(status === 202 ? '{"status":"OK"}' : '{"errorMessage":"rejected","errorType":"RequestTooLarge"}');
      }
      api.emit('change');
    });
  });
  api.held = () => waiting.length;
  api.push = (ev) => {
    api.queue.push(ev);
    while (waiting.length && api.queue.length) serve(waiting.shift());
  };
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  api.port = server.address().port;
  api.close = () => {
    for (const res of waiting) res.destroy();
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  };
  cleanups.push(api.close);
  return api;
}

function safeJson(s) {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

let dirCount = 0;
function taskDir(files) {
  const dir = path.join(TMP, `task${++dirCount}`);
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

function startRuntime(api, dir, handler, extraEnv = {}) {
  const env = {
    PATH: process.env.PATH,
    AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${api.port}`,
    _HANDLER: handler,
    LAMBDA_TASK_ROOT: dir,
    LAMBDA_RUNTIME_DIR: path.dirname(BOOTSTRAP),
    AWS_LAMBDA_FUNCTION_NAME: 'fn',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/fn',
    AWS_LAMBDA_LOG_STREAM_NAME: '2024/01/01/[$LATEST]abc',
    AWS_REGION: 'us-east-1',
    ...extraEnv,
  };
  const child = spawn(process.execPath, [BOOTSTRAP], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const rt = { child, stdout: '', stderr: '', exit: undefined, events: api };
  child.stdout.on('data', (d) => { rt.stdout += d; api.emit('change'); });
  child.stderr.on('data', (d) => { rt.stderr += d; api.emit('change'); });
  child.on('exit', (code, signal) => { rt.exit = { code, signal }; api.emit('change'); });
  rt.exited = () => waitFor(api, () => rt.exit, 'runtime exit');
  // SIGTERM, wait for exit and for the mock to notice the dropped long poll.
  rt.stop = async () => {
    child.kill('SIGTERM');
    const exit = await rt.exited();
    await waitFor(api, () => api.held() === 0, 'mock to drop the long poll');
    return exit;
  };
  cleanups.push(() => { if (!rt.exit) child.kill('SIGKILL'); });
  return rt;
}

const postFor = (api, id) => () => api.posts.find((p) => p.url.startsWith(`/2018-06-01/runtime/invocation/${id}/`));

async function invoke(api, ev) {
  api.push(ev);
  return waitFor(api, postFor(api, ev.id), `post for ${ev.id}`);
}

// ------------------------------------------------------------------ tests

test('async ESM handler: result, context fields, logs, trace id', async () => {
  const api = await startApi();
  const dir = taskDir({
    'index.mjs': `
      export const handler = async (event, context) => {
        console.log('hello', event.name, { a: 1 });
        console.warn('line1\\nline2');
        return {
          event,
          trace: process.env._X_AMZN_TRACE_ID ?? null,
          remaining: context.getRemainingTimeInMillis(),
          ctx: {
            functionName: context.functionName, functionVersion: context.functionVersion,
            invokedFunctionArn: context.invokedFunctionArn, memoryLimitInMB: context.memoryLimitInMB,
            awsRequestId: context.awsRequestId, logGroupName: context.logGroupName,
            logStreamName: context.logStreamName, identity: context.identity,
            clientContext: context.clientContext, cwfel: context.callbackWaitsForEmptyEventLoop,
          },
        };
      };`,
  });
  const rt = startRuntime(api, dir, 'index.handler');
  const p1 = await invoke(api, {
    id: 'req-1',
    body: { name: 'world' },
    headers: {
      'Lambda-Runtime-Trace-Id': 'Root=1-abc;Parent=def;Sampled=1',
      'Lambda-Runtime-Client-Context': JSON.stringify({ custom: { k: 'v' } }),
      'Lambda-Runtime-Cognito-Identity': JSON.stringify({ cognitoIdentityId: 'cid' }),
    },
  });
  assert.equal(p1.url, '/2018-06-01/runtime/invocation/req-1/response');
  const r = p1.json;
  assert.deepEqual(r.event, { name: 'world' });
  assert.equal(r.trace, 'Root=1-abc;Parent=def;Sampled=1');
  assert.ok(r.remaining > 0 && r.remaining <= 30000, `remaining ${r.remaining}`);
  assert.deepEqual(r.ctx, {
    functionName: 'fn', functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fn',
    memoryLimitInMB: '128', awsRequestId: 'req-1', logGroupName: '/aws/lambda/fn',
    logStreamName: '2024/01/01/[$LATEST]abc', identity: { cognitoIdentityId: 'cid' },
    clientContext: { custom: { k: 'v' } }, cwfel: true,
  });

  // Second invocation without a trace id header: env var must be gone.
  const p2 = await invoke(api, { id: 'req-2', body: { name: 'again' } });
  assert.equal(p2.json.trace, null);
  assert.equal(p2.json.ctx.identity, undefined);

  await waitFor(api, () => rt.stdout.includes('\treq-2\tWARN\t'), 'second log lines');
  const lines = rt.stdout.split('\n').filter(Boolean);
  const info = lines.find((l) => l.includes('\treq-1\tINFO\t'));
  assert.match(info, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\treq-1\tINFO\thello world \{ a: 1 \}$/);
  const warn = lines.find((l) => l.includes('\treq-1\tWARN\t'));
  assert.ok(warn.endsWith('\tWARN\tline1\rline2'), JSON.stringify(warn));
});

test('callback-style CommonJS handler, nested property path, succeed/done, sync return', async () => {
  const api = await startApi();
  const dir = taskDir({
    'index.js': `
      module.exports.handler = (event, context, callback) => {
        setTimeout(() => callback(null, { got: event.x, id: context.awsRequestId }), 5);
      };
      module.exports.nested = { fn: (event, context) => { context.succeed('ok-' + event.x); context.fail(new Error('ignored')); } };
      module.exports.twice = (event, context, cb) => { cb(null, 1); cb(null, 2); context.done(null, 3); };
      module.exports.sync = () => 'returned value is ignored for non-promise handlers';
      module.exports.cbErr = (event, context, cb) => cb(new TypeError('bad input'));`,
  });
  const rt = startRuntime(api, dir, 'index.handler');
  const p = await invoke(api, { id: 'cb-1', body: { x: 7 } });
  assert.equal(p.url, '/2018-06-01/runtime/invocation/cb-1/response');
  assert.deepEqual(p.json, { got: 7, id: 'cb-1' });
  assert.deepEqual(await rt.stop(), { code: 0, signal: null });

  const rt2 = startRuntime(api, dir, 'index.nested.fn');
  assert.equal((await invoke(api, { id: 'cb-2', body: { x: 'y' } })).json, 'ok-y');
  await rt2.stop();

  const rt3 = startRuntime(api, dir, 'index.twice');
  assert.equal((await invoke(api, { id: 'cb-3', body: {} })).json, 1);
  await invoke(api, { id: 'cb-3b', body: {} });
  assert.equal(api.posts.filter((x) => x.url.includes('/cb-3/')).length, 1, 'second completion ignored');
  await rt3.stop();

  const rt4 = startRuntime(api, dir, 'index.sync');
  const p4 = await invoke(api, { id: 'cb-4', body: {} });
  assert.equal(p4.url, '/2018-06-01/runtime/invocation/cb-4/response');
  assert.equal(p4.body, 'null');
  await rt4.stop();

  const rt5 = startRuntime(api, dir, 'index.cbErr');
  const p5 = await invoke(api, { id: 'cb-5', body: {} });
  assert.equal(p5.url, '/2018-06-01/runtime/invocation/cb-5/error');
  assert.equal(p5.json.errorType, 'TypeError');
  assert.equal(p5.json.errorMessage, 'bad input');
  await rt5.stop();
});

test('.js with package.json type module in a subdirectory, ESM default export, .cjs', async () => {
  const api = await startApi();
  const dir = taskDir({
    'package.json': JSON.stringify({ type: 'module' }),
    'src/app.js': `import os from 'node:os';\nexport async function handler(e) { return { esm: typeof os.cpus === 'function', v: e.v }; }`,
    'def.mjs': `export default { handler: async () => 'from-default' };`,
    'legacy.cjs': `exports.handler = async () => ({ cjs: typeof require === 'function' });`,
  });
  const cases = [
    ['src/app.handler', { v: 1 }, { esm: true, v: 1 }],
    ['def.handler', {}, 'from-default'],
    ['legacy.handler', {}, { cjs: true }],
  ];
  for (const [i, [handler, body, expected]] of cases.entries()) {
    const rt = startRuntime(api, dir, handler);
    const p = await invoke(api, { id: `m-${i}`, body });
    assert.equal(p.url, `/2018-06-01/runtime/invocation/m-${i}/response`, rt.stdout + rt.stderr);
    assert.deepEqual(p.json, expected);
    await rt.stop();
  }
});

test('thrown error and thrown string: error body, header and log line', async () => {
  const api = await startApi();
  const dir = taskDir({
    'index.mjs': `
      export const handler = async () => { const e = new RangeError('too far'); throw e; };
      export const str = async () => { throw 'plain string'; };`,
  });
  const rt = startRuntime(api, dir, 'index.handler');
  const p = await invoke(api, { id: 'err-1', body: {} });
  assert.equal(p.url, '/2018-06-01/runtime/invocation/err-1/error');
  assert.equal(p.headers['lambda-runtime-function-error-type'], 'RangeError');
  assert.equal(p.json.errorType, 'RangeError');
  assert.equal(p.json.errorMessage, 'too far');
  assert.ok(Array.isArray(p.json.trace));
  assert.equal(p.json.trace[0], 'RangeError: too far');
  assert.ok(p.json.trace.some((l) => l.includes('index.mjs')));
  await waitFor(api, () => rt.stdout.includes('Invoke Error'), 'Invoke Error log');
  const line = rt.stdout.split('\n').find((l) => l.includes('Invoke Error'));
  assert.match(line, /\terr-1\tERROR\tInvoke Error \t\{"errorType":"RangeError","errorMessage":"too far"/);
  await rt.stop();

  const rt2 = startRuntime(api, dir, 'index.str');
  const p2 = await invoke(api, { id: 'err-2', body: {} });
  assert.equal(p2.headers['lambda-runtime-function-error-type'], 'string');
  assert.deepEqual(p2.json, { errorType: 'string', errorMessage: 'plain string', trace: [] });
  await rt2.stop();
});

test('init errors: missing module, missing handler, syntax error, bad handler name', async () => {
  const api = await startApi();
  const dir = taskDir({
    'index.js': `exports.other = () => 1;`,
    'broken.js': `exports.handler = () => {;\n  let x = ;\n`,
    'brokenesm.mjs': `export const handler = ) => 1;`,
    'thrower.js': `class ConfigError extends Error { constructor(m) { super(m); this.name = 'ConfigError'; } }\nthrow new ConfigError('no config');`,
  });
  const cases = [
    ['nothere.handler', 'Runtime.ImportModuleError', /Cannot find module 'nothere'/],
    ['index.handler', 'Runtime.HandlerNotFound', /^index\.handler is undefined or not exported$/],
    ['broken.handler', 'Runtime.UserCodeSyntaxError', /^SyntaxError: /],
    ['brokenesm.handler', 'Runtime.UserCodeSyntaxError', /^SyntaxError: /],
    ['index', 'Runtime.MalformedHandlerName', /^Bad handler$/],
    ['thrower.handler', 'ConfigError', /^no config$/],
  ];
  for (const [handler, type, msg] of cases) {
    const before = api.posts.length;
    const rt = startRuntime(api, dir, handler);
    const { code } = await rt.exited();
    assert.equal(code, 1, `${handler}: exit code; stderr=${rt.stderr}`);
    const p = api.posts[before];
    assert.ok(p, `${handler}: init error posted`);
    assert.equal(p.url, '/2018-06-01/runtime/init/error');
    assert.equal(p.headers['lambda-runtime-function-error-type'], type);
    assert.equal(p.json.errorType, type);
    assert.match(p.json.errorMessage, msg);
    assert.ok(Array.isArray(p.json.trace) && p.json.trace.length > 0);
    assert.equal(api.nextCalls, 0, `${handler}: no /next after failed init`);
    assert.match(rt.stdout, /\tundefined\tERROR\tUncaught Exception \t\{"errorType":/);
  }
});

test('413 from /response does not crash the runtime', async () => {
  const api = await startApi({ responseStatus: (rec, n) => (n === 1 ? 413 : 202) });
  const dir = taskDir({ 'index.mjs': `export const handler = async (e) => ({ n: e.n });` });
  const rt = startRuntime(api, dir, 'index.handler');
  await invoke(api, { id: 'big-1', body: { n: 1 } });
  const p2 = await invoke(api, { id: 'big-2', body: { n: 2 } });
  assert.deepEqual(p2.json, { n: 2 });
  assert.equal(rt.exit, undefined);
  assert.match(rt.stderr, /413/);
  assert.equal((await rt.stop()).code, 0);
});

test('unhandled rejection and uncaught exception during an invocation exit 129', async () => {
  const api = await startApi();
  const dir = taskDir({
    'index.js': `
      exports.reject = (e, ctx, cb) => { Promise.reject(new Error('nobody catches me')); };
      exports.throwLater = (e, ctx, cb) => { setTimeout(() => { throw new SyntaxError('late'); }, 1); };`,
  });
  const rt = startRuntime(api, dir, 'index.reject');
  const p = await invoke(api, { id: 'ur-1', body: {} });
  assert.equal(p.url, '/2018-06-01/runtime/invocation/ur-1/error');
  assert.equal(p.json.errorType, 'Runtime.UnhandledPromiseRejection');
  assert.equal(p.json.errorMessage, 'Error: nobody catches me');
  assert.equal((await rt.exited()).code, 129);

  const rt2 = startRuntime(api, dir, 'index.throwLater');
  const p2 = await invoke(api, { id: 'ue-1', body: {} });
  assert.equal(p2.url, '/2018-06-01/runtime/invocation/ue-1/error');
  assert.equal(p2.json.errorType, 'SyntaxError');
  assert.equal(p2.json.errorMessage, 'late');
  assert.equal((await rt2.exited()).code, 129);
});

test('invalid event JSON and unserializable result are reported as errors', async () => {
  const api = await startApi();
  const dir = taskDir({
    'index.mjs': `export const handler = async (e) => { if (e && e.circular) { const o = {}; o.o = o; return o; } return 'ok'; };`,
  });
  const rt = startRuntime(api, dir, 'index.handler');
  const p1 = await invoke(api, { id: 'bad-1', body: '{not json' });
  assert.equal(p1.url, '/2018-06-01/runtime/invocation/bad-1/error');
  assert.equal(p1.json.errorType, 'Runtime.UnmarshalError');
  const p2 = await invoke(api, { id: 'bad-2', body: { circular: true } });
  assert.equal(p2.url, '/2018-06-01/runtime/invocation/bad-2/error');
  assert.equal(p2.json.errorMessage, 'Unable to stringify response body');
  assert.equal((await invoke(api, { id: 'bad-3', body: {} })).json, 'ok');
  await rt.stop();
});

test('connection failure on /next exits non-zero', async () => {
  const api = await startApi();
  const dir = taskDir({ 'index.mjs': `export const handler = async () => 1;` });
  // Grab a free port, then close it so nothing listens there.
  const tmp = http.createServer();
  await new Promise((r) => tmp.listen(0, '127.0.0.1', r));
  const deadPort = tmp.address().port;
  await new Promise((r) => tmp.close(r));
  const rt = startRuntime(api, dir, 'index.handler', { AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${deadPort}` });
  const { code } = await rt.exited();
  assert.notEqual(code, 0);
  assert.match(rt.stderr, /invocation\/next failed/);
});
