// The forwarder against the real annals binary (ANNALS_BINARY, set by ctest; skipped
// without it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { handler } from '../index.mjs';

const binary = process.env.ANNALS_BINARY;
const here = dirname(fileURLToPath(import.meta.url));
const testdata = join(here, '..', '..', '..', 'tests', 'testdata');
const fixture = (name) => JSON.parse(readFileSync(join(testdata, name), 'utf8'));
const adminKey = 'forwarder-test-admin-key-0123456789abcdef';

let dir;
let server;
let base;

before(async () => {
  if (!binary) return;
  dir = mkdtempSync(join(tmpdir(), 'annals-forwarder-'));
  writeFileSync(join(dir, 'annals.toml'), `
[[sources.dynamodb]]
name = "items"
organization_attribute = "tenantId"
target_type = "item"

[[sources.sqs]]
name = "backend"
`);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ANNALS_')));
  server = spawn(binary, ['serve', '--data', join(dir, 'data'), '--listen', '127.0.0.1:0',
                          '--config', join(dir, 'annals.toml')],
                 { env: { ...env, ANNALS_ADMIN_KEY: adminKey, ANNALS_ORGS_AUTO_CREATE: 'true' },
                   stdio: ['ignore', 'ignore', 'pipe'] });
  base = await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`annals did not start: ${text}`)), 20000);
    server.stderr.on('data', (chunk) => {
      text += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.on('exit', (code) => reject(new Error(`annals exited with ${code}: ${text}`)));
  });
  server.stderr.resume();
});

after(() => {
  if (server) server.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function count(org) {
  const r = await fetch(`${base}/v1/events?limit=1000&organization_id=${org}`,
                        { headers: { authorization: `Bearer ${adminKey}` } });
  assert.equal(r.status, 200);
  return (await r.json()).data.length;
}

test('DynamoDB and SQS batches through the forwarder into annals', { skip: !binary && 'ANNALS_BINARY is not set' }, async () => {
  process.env.ANNALS_URL = base;
  process.env.ANNALS_KEY = adminKey;
  delete process.env.ANNALS_SOURCE_KIND;
  delete process.env.ANNALS_TIMEOUT_MS;

  process.env.ANNALS_SOURCE_NAME = 'items';
  for (const name of ['insert', 'modify', 'remove', 'ttl_remove']) {
    assert.deepEqual(await handler(fixture(`dynamodb/${name}.json`)), { batchItemFailures: [] });
  }
  // Redelivery stores nothing twice.
  assert.deepEqual(await handler(fixture('dynamodb/modify.json')), { batchItemFailures: [] });
  assert.equal(await count('t_42'), 4);

  // A record annals cannot store comes back for Lambda to retry; the others are stored.
  const batch = fixture('dynamodb/insert.json');
  const bad = structuredClone(batch.Records[0]);
  bad.eventID = 'bad0000000000000000000000000000';
  bad.eventName = 'MODIFY';  // without an OldImage
  bad.dynamodb.SequenceNumber = '4421584500000000017450439099';
  bad.dynamodb.Keys = { itemId: { S: 'itm_0002' } };
  batch.Records.push(bad);
  assert.deepEqual(await handler(batch),
                   { batchItemFailures: [{ itemIdentifier: '4421584500000000017450439099' }] });

  // SQS, the kind taken from the records.
  process.env.ANNALS_SOURCE_NAME = 'backend';
  assert.deepEqual(await handler(fixture('sqs/messages.json')), { batchItemFailures: [] });
  assert.equal(await count('org_acme'), 2);

  // A batch of the wrong kind for its source is refused whole: Lambda retries it.
  process.env.ANNALS_SOURCE_KIND = 'sqs';
  await assert.rejects(handler(fixture('dynamodb/insert.json')), /400 invalid_request/);
  // So is an unknown source.
  process.env.ANNALS_SOURCE_KIND = 'dynamodb';
  process.env.ANNALS_SOURCE_NAME = 'nope';
  await assert.rejects(handler(fixture('dynamodb/insert.json')), /404 unknown_source/);
});
