// The forwarder against a real local HTTP server standing in for annals.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { handler } from '../index.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const testdata = join(here, '..', '..', '..', 'tests', 'testdata');
const fixture = (name) => JSON.parse(readFileSync(join(testdata, name), 'utf8'));

// The stand-in: records every request; `answer` decides the response.
let server;
let requests = [];
let answer = () => ({ status: 200, body: { batchItemFailures: [] } });

before(async () => {
  server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const request = { method: req.method, url: req.url, headers: req.headers,
                        body: Buffer.concat(chunks).toString('utf8') };
      requests.push(request);
      const a = answer(request);
      if (a === 'hang') return;  // never answers
      if (a === 'reset') {
        req.socket.destroy();
        return;
      }
      // No keep-alive: each request on a connection of its own, so tests do not depend
      // on the client's connection pool.
      res.writeHead(a.status, { 'content-type': 'application/json', connection: 'close' });
      res.end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
});

after(() => {
  server.closeAllConnections();
  server.close();
});

beforeEach(() => {
  requests = [];
  answer = () => ({ status: 200, body: { batchItemFailures: [] } });
  process.env.ANNALS_URL = `http://127.0.0.1:${server.address().port}/`;
  process.env.ANNALS_KEY = 'annals_key_test_secret';
  process.env.ANNALS_SOURCE_NAME = 'items table';
  delete process.env.ANNALS_SOURCE_KIND;
  delete process.env.ANNALS_TIMEOUT_MS;
});


test('forwards a DynamoDB stream batch and returns annals\' batchItemFailures', async () => {
  const event = fixture('dynamodb/modify.json');
  const seq = event.Records[0].dynamodb.SequenceNumber;
  answer = () => ({ status: 200, body: {
    batchItemFailures: [{ itemIdentifier: seq }],
    records: [{ itemIdentifier: seq, error: { code: 'invalid_record', message: 'no tenantId' } }],
  } });
  const result = await handler(event, { getRemainingTimeInMillis: () => 60000 });
  assert.deepEqual(result, { batchItemFailures: [{ itemIdentifier: seq }] });
  assert.equal(requests.length, 1);
  const r = requests[0];
  assert.equal(r.method, 'POST');
  assert.equal(r.url, '/v1/sources/dynamodb/items%20table');
  assert.equal(r.headers.authorization, 'Bearer annals_key_test_secret');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(r.body), event);
});

test('derives the kind from SQS records, and ANNALS_SOURCE_KIND overrides it', async () => {
  const event = fixture('sqs/messages.json');
  assert.deepEqual(await handler(event), { batchItemFailures: [] });
  assert.equal(requests[0].url, '/v1/sources/sqs/items%20table');
  process.env.ANNALS_SOURCE_KIND = 'dynamodb';
  await handler(event);
  assert.equal(requests[1].url, '/v1/sources/dynamodb/items%20table');
  process.env.ANNALS_SOURCE_KIND = 'kinesis';
  await assert.rejects(handler(event), /ANNALS_SOURCE_KIND must be/);
});

test('a non-200 answer makes Lambda retry the whole batch', async () => {
  for (const status of [400, 401, 404, 413, 429, 500, 503]) {
    answer = () => ({ status, body: { error: { code: 'overloaded', message: 'the ingest queue is full' } } });
    await assert.rejects(handler(fixture('dynamodb/insert.json')),
                         (err) => err.message.includes(`${status} overloaded: the ingest queue is full`) &&
                                  err.message.includes('whole batch will be retried'));
  }
});

test('a network error makes Lambda retry the whole batch', async () => {
  answer = () => 'reset';
  await assert.rejects(handler(fixture('dynamodb/insert.json')), /could not be reached/);
  assert.equal(requests.length, 2);  // one more attempt on a fresh connection
  process.env.ANNALS_URL = 'http://127.0.0.1:1';
  await assert.rejects(handler(fixture('dynamodb/insert.json')), /could not be reached/);
});

test('a connection closed once is tried again', async () => {
  let n = 0;
  answer = () => (++n === 1 ? 'reset' : { status: 200, body: { batchItemFailures: [] } });
  assert.deepEqual(await handler(fixture('dynamodb/insert.json')), { batchItemFailures: [] });
  assert.equal(requests.length, 2);
});

test('a timeout makes Lambda retry the whole batch', async () => {
  answer = () => 'hang';
  process.env.ANNALS_TIMEOUT_MS = '200';
  await assert.rejects(handler(fixture('sqs/messages.json')), /could not be reached/);
});

test('a malformed 200 answer makes Lambda retry the whole batch', async () => {
  const event = fixture('sqs/messages.json');
  for (const body of ['not json', '{}', '{"batchItemFailures": {}}',
                      '{"batchItemFailures": [{"itemIdentifier": ""}]}',
                      '{"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]}',
                      '{"batchItemFailures": [{}]}']) {
    answer = () => ({ status: 200, body });
    await assert.rejects(handler(event), /whole batch will be retried/, body);
  }
});

test('an empty batch is not sent', async () => {
  assert.deepEqual(await handler({ Records: [] }), { batchItemFailures: [] });
  assert.equal(requests.length, 0);
});

test('events that are not batches, or mix sources, are refused', async () => {
  await assert.rejects(handler({}), /no Records array/);
  const mixed = { Records: [...fixture('sqs/messages.json').Records,
                            ...fixture('dynamodb/insert.json').Records] };
  await assert.rejects(handler(mixed), /cannot tell the source kind/);
  await assert.rejects(handler({ Records: [{ eventSource: 'aws:kinesis' }] }),
                       /neither DynamoDB stream records nor SQS/);
  assert.equal(requests.length, 0);
});

test('missing settings are named', async () => {
  delete process.env.ANNALS_KEY;
  await assert.rejects(handler(fixture('dynamodb/insert.json')), /ANNALS_KEY is required/);
});
