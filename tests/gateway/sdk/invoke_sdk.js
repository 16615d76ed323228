// Drives wisp-gateway with the real AWS SDK for JavaScript v3 Lambda client and prints what the
// SDK saw as one JSON document on stdout; gateway_integration_test asserts on it.
//
//   node invoke_sdk.js <sdk dir (holds node_modules)> <endpoint> <scenario>
//
// Scenarios:
//   basic     Invoke round trip, full ARN + Qualifier, function error, Tail, DryRun, missing
//             function, Event (refused).
//   throttle  one Invoke of `gate` (the test holds its reserved concurrency) -> typed error.
//   async     InvocationType Event of `fn` (a gateway with --redis) -> 202 and the request id.
'use strict';
const path = require('node:path');
const { createRequire } = require('node:module');

const [sdkDir, endpoint, scenario] = process.argv.slice(2);
const sdkRequire = createRequire(path.join(path.resolve(sdkDir), 'package.json'));
const { LambdaClient, InvokeCommand } = sdkRequire('@aws-sdk/client-lambda');
const sdkVersion = sdkRequire('@aws-sdk/client-lambda/package.json').version;

const client = new LambdaClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIDWISPTEST', secretAccessKey: 'wisp-test-secret' },
  maxAttempts: 1,  // a throttle must surface, not be retried
});

async function invoke(params) {
  try {
    const out = await client.send(new InvokeCommand(params));
    return {
      ok: true,
      statusCode: out.StatusCode ?? null,
      requestId: out.$metadata?.requestId ?? null,
      functionError: out.FunctionError ?? null,
      executedVersion: out.ExecutedVersion ?? null,
      logResult: out.LogResult ?? null,
      payload: out.Payload ? Buffer.from(out.Payload).toString('utf8') : null,
    };
  } catch (err) {
    return {
      ok: false,
      name: err.name ?? null,
      message: err.message ?? null,
      httpStatusCode: err.$metadata?.httpStatusCode ?? null,
      type: err.Type ?? null,
      reason: err.Reason ?? null,
    };
  }
}

const json = (v) => Buffer.from(JSON.stringify(v));

async function basic() {
  const arn = 'arn:aws:lambda:us-east-1:000000000000:function:pyecho';
  return {
    roundTrip: await invoke({ FunctionName: 'pyecho', Payload: json({ hello: 'sdk', n: [1, 2, 3] }) }),
    arnAndQualifier: await invoke({ FunctionName: arn, Qualifier: '$LATEST', Payload: json({ via: 'arn' }) }),
    functionError: await invoke({ FunctionName: 'pyecho', Payload: json({ fail: 'sdk boom' }) }),
    tail: await invoke({ FunctionName: 'pyecho', LogType: 'Tail', Payload: json({ print: 'sdk-tail-marker' }) }),
    dryRun: await invoke({ FunctionName: 'pyecho', InvocationType: 'DryRun' }),
    missing: await invoke({ FunctionName: 'no-such-function', Payload: json({}) }),
    otherQualifier: await invoke({ FunctionName: 'pyecho', Qualifier: '7', Payload: json({}) }),
    event: await invoke({ FunctionName: 'pyecho', InvocationType: 'Event', Payload: json({}) }),
  };
}

async function throttle() {
  return { throttled: await invoke({ FunctionName: 'gate', Payload: json({ n: 1 }) }) };
}

async function async_() {
  return {
    event: await invoke({ FunctionName: 'fn', InvocationType: 'Event', Payload: json({ n: 'sdk' }) }),
    missing: await invoke({ FunctionName: 'no-such-function', InvocationType: 'Event', Payload: json({}) }),
  };
}

(async () => {
  const scenarios = { basic, throttle, async: async_ };
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`);
  const result = await scenarios[scenario]();
  result.sdkVersion = sdkVersion;
  process.stdout.write(JSON.stringify(result));
})().catch((err) => {
  process.stderr.write(`invoke_sdk.js failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
