// The official WorkOS Node SDK (@workos-inc/node, the exact version package-lock.json pins)
// against a real `annals serve`: the SDK is configured with annals' address and an annals
// platform key, and nothing else changes. Run by ctest (workos_sdk), which sets
// ANNALS_BINARY; scripts/install-deps.sh installs the SDK.
//
// The tests share one server and run in order, each section on its own organization. New
// sections (exports: createExport/getExport) go at the end of this file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';

import { adminKey, binary, call, events, startAnnals } from '../annals.mjs';

const require = createRequire(import.meta.url);
let sdk;
try {
  sdk = require('@workos-inc/node');
} catch (e) {
  throw new Error('the WorkOS SDK is not installed in tests/workos-sdk: run scripts/install-deps.sh ' +
                  `(npm ci there) first (${e.message})`);
}
// 7.82 throws a ConflictException on 409 but does not export the class.
const { WorkOS, BadRequestException, NotFoundException, UnprocessableEntityException,
        GeneratePortalLinkIntent } = sdk;

const pinned = JSON.parse(readFileSync(new URL('../package.json', import.meta.url))).dependencies['@workos-inc/node'];
const installed = JSON.parse(readFileSync(new URL('../node_modules/@workos-inc/node/package.json',
                                                  import.meta.url))).version;

const skip = !binary && 'ANNALS_BINARY is not set';
let annals;
let workos;

// An event as an application would give it to the SDK (camelCase options).
function event(action = 'invoice.viewed', extra = {}) {
  return {
    action,
    occurredAt: new Date('2026-01-02T03:04:05.678Z'),
    actor: { id: 'user_7', type: 'user', name: 'Ada', metadata: { role: 'admin' } },
    targets: [{ id: 'inv_1', type: 'invoice', name: 'Invoice 1' }],
    context: { location: '203.0.113.7', userAgent: 'Firefox' },
    ...extra,
  };
}

async function createOrg(id) {
  const r = await call(annals, 'POST', '/v1/orgs', { body: { id, name: id } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

before(async () => {
  if (!binary) return;
  annals = await startAnnals();
  workos = new WorkOS(adminKey, { apiHostname: annals.host, port: annals.port, https: false });
});

after(() => {
  if (annals) annals.stop();
});

test('the pinned SDK is the one installed', () => {
  assert.equal(installed, pinned);
  assert.equal(pinned, '7.82.0');
});

test('createEvent: stored, idempotent per key, conflicting reuse refused', { skip }, async () => {
  await createOrg('org_events');
  await workos.auditLogs.createEvent('org_events', event(), { idempotencyKey: 'order-1' });
  await workos.auditLogs.createEvent('org_events', event(), { idempotencyKey: 'order-1' });
  let stored = await events(annals, 'org_events');
  assert.equal(stored.length, 1);
  const e = stored[0];
  assert.equal(e.action, 'invoice.viewed');
  assert.equal(e.occurred_at, '2026-01-02T03:04:05.678000Z');
  assert.deepEqual(e.actor, { id: 'user_7', type: 'user', name: 'Ada', metadata: { role: 'admin' } });
  assert.deepEqual(e.targets, [{ id: 'inv_1', type: 'invoice', name: 'Invoice 1' }]);
  assert.deepEqual(e.context, { location: '203.0.113.7', user_agent: 'Firefox' });
  assert.deepEqual(e.source, { interface: 'workos', kind: 'api' });

  await assert.rejects(
    workos.auditLogs.createEvent('org_events', event('invoice.paid'), { idempotencyKey: 'order-1' }),
    (err) => err.name === 'ConflictException' && err.status === 409 &&
             /idempotency key/.test(err.message));

  // Without a key the SDK makes one per call (workos-node-<uuid>): two calls, two events.
  await workos.auditLogs.createEvent('org_events', event('invoice.paid', { version: 1, metadata: { amount: 12.5, paid: true } }));
  await workos.auditLogs.createEvent('org_events', event('invoice.paid', { version: 1, metadata: { amount: 12.5, paid: true } }));
  stored = await events(annals, 'org_events');
  assert.equal(stored.length, 3);
  assert.deepEqual(stored[2].metadata, { amount: 12.5, paid: true });

  await assert.rejects(workos.auditLogs.createEvent('org_nope', event()),
                       (err) => err instanceof NotFoundException &&
                                err.message === "Organization not found: 'org_nope'.");
  await assert.rejects(
    workos.auditLogs.createEvent('org_events', { ...event(), context: { userAgent: 'Firefox' } }),
    (err) => err instanceof BadRequestException && err.code === 'invalid_audit_log_event' &&
             err.errors[0].instancePath === '/context/location');
});

test('createEvent without an Idempotency-Key over raw HTTP', { skip }, async () => {
  await createOrg('org_raw');
  const body = {
    organization_id: 'org_raw',
    event: { action: 'invoice.viewed', occurred_at: '2026-01-02T03:04:05.678Z',
             actor: { id: 'u', type: 'user' }, targets: [{ id: 't', type: 'invoice' }],
             context: { location: '198.51.100.1' } },
  };
  for (let i = 0; i < 2; ++i) {
    const r = await call(annals, 'POST', '/audit_logs/events', { body });
    assert.equal(r.status, 201);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.deepEqual(r.body, { success: true });
  }
  assert.equal((await events(annals, 'org_raw')).length, 2);
});

test('createSchema, then list the schemas over raw HTTP', { skip }, async () => {
  const v1 = await workos.auditLogs.createSchema({
    action: 'document.updated',
    targets: [{ type: 'document', metadata: { pages: 'number' } }],
    metadata: { reason: 'string', urgent: 'boolean' },
  });
  assert.equal(v1.object, 'audit_log_schema');
  assert.equal(v1.version, 1);
  assert.deepEqual(v1.targets, [{ type: 'document', metadata: { pages: 'number' } }]);
  assert.deepEqual(v1.actor, { metadata: {} });
  assert.deepEqual(v1.metadata, { reason: 'string', urgent: 'boolean' });
  assert.match(v1.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  const v2 = await workos.auditLogs.createSchema({
    action: 'document.updated',
    actor: { metadata: { role: 'string' } },
    targets: [{ type: 'document' }],
  });
  assert.equal(v2.version, 2);
  assert.deepEqual(v2.targets, [{ type: 'document', metadata: undefined }]);
  assert.deepEqual(v2.actor, { metadata: { role: 'string' } });
  assert.equal(v2.metadata, undefined);

  // 7.82 has no listSchemas: the route as later SDKs call it.
  const list = await call(annals, 'GET', '/audit_logs/actions/document.updated/schemas?order=desc&limit=10');
  assert.equal(list.status, 200);
  assert.equal(list.body.object, 'list');
  assert.deepEqual(list.body.data.map((s) => s.version), [2, 1]);
  assert.deepEqual(list.body.list_metadata, { before: null, after: null });
  const actions = await call(annals, 'GET', '/audit_logs/actions');
  assert.equal(actions.status, 200);
  assert.deepEqual(actions.body.data.map((a) => [a.name, a.schema.version]), [['document.updated', 2]]);
  const missing = await call(annals, 'GET', '/audit_logs/actions/nothing.here/schemas');
  assert.equal(missing.status, 404);

  await assert.rejects(
    call(annals, 'POST', '/audit_logs/actions/document.updated/schemas',
         { body: { targets: [{ type: 'document', metadata: { type: 'object', properties: { n: { type: 'integer' } } } }] } })
      .then((r) => { if (r.status !== 201) throw Object.assign(new Error(r.body.message), r); }),
    (err) => err.status === 422 && err.body.code === 'invalid_schema');
});

test('an event that breaks its schema is the SDK\'s BadRequestException', { skip }, async () => {
  await createOrg('org_schema');
  await workos.auditLogs.createSchema({
    action: 'payment.refunded',
    targets: [{ type: 'payment', metadata: { amount: 'number' } }],
  });
  const refund = (amount, extra = {}) => event('payment.refunded', {
    targets: [{ id: 'pay_1', type: 'payment', metadata: { amount } }], ...extra });
  await workos.auditLogs.createEvent('org_schema', refund(10));
  await assert.rejects(workos.auditLogs.createEvent('org_schema', refund('ten')), (err) => {
    assert.ok(err instanceof BadRequestException, `${err.name}: ${err.message}`);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'invalid_audit_log_event');
    assert.equal(err.errors[0].instancePath, '/targets/0/metadata/amount');
    assert.match(err.message, /^Invalid Audit Log event: /);
    return true;
  });
  // A version that does not exist.
  await assert.rejects(workos.auditLogs.createEvent('org_schema', refund(10, { version: 7 })),
                       (err) => err instanceof BadRequestException &&
                                err.errors[0].instancePath === '/version');
  // The native API enforces the same schema.
  const native = await call(annals, 'POST', '/v1/events', {
    body: { organization_id: 'org_schema', action: 'payment.refunded', occurred_at: '2026-01-02T03:04:05Z',
            actor: { id: 'u', type: 'user' }, targets: [{ id: 'p', type: 'payment', metadata: { amount: 'x' } }] },
  });
  assert.equal(native.status, 400);
  assert.equal(native.body.error.details[0].path, '/targets/0/metadata/amount');
  assert.equal((await events(annals, 'org_schema')).length, 1);
});

test('retention through workos.put and workos.get', { skip }, async () => {
  await createOrg('org_retention');
  const path = '/organizations/org_retention/audit_logs_retention';
  let r = await workos.get(path);
  assert.deepEqual(r.data, { retention_period_in_days: null });
  r = await workos.put(path, { retention_period: '1_YEAR' });
  assert.deepEqual(r.data, { retention_period_in_days: 365 });
  r = await workos.get(path);
  assert.deepEqual(r.data, { retention_period_in_days: 365 });
  r = await workos.put(path, { retention_period_in_days: 30 });
  assert.deepEqual(r.data, { retention_period_in_days: 30 });
  await assert.rejects(workos.put(path, { retention_period: '13_MONTHS' }),
                       (err) => err instanceof UnprocessableEntityException &&
                                /retention_period must be one of/.test(err.message));
  await assert.rejects(workos.get('/organizations/org_nope/audit_logs_retention'),
                       (err) => err instanceof NotFoundException);
});

test('portal.generateLink makes a link annals opens', { skip }, async () => {
  await createOrg('org_portal');
  const { link } = await workos.portal.generateLink({
    organization: 'org_portal', intent: GeneratePortalLinkIntent.AuditLogs });
  assert.ok(link.startsWith(`${annals.base}/portal/audit_logs?token=`), link);
  const opened = await fetch(link);
  assert.equal(opened.status, 200);
  const grant = await opened.json();
  assert.equal(grant.organization_id, 'org_portal');
  assert.equal(grant.intent, 'audit_logs');

  const streams = await workos.portal.generateLink({
    organization: 'org_portal', intent: GeneratePortalLinkIntent.LogStreams,
    returnUrl: 'https://app.example.com/settings' });
  assert.equal((await fetch(streams.link)).status, 200);
  assert.equal((await fetch(link.replace('/audit_logs?', '/log_streams?'))).status, 403);

  await assert.rejects(
    workos.portal.generateLink({ organization: 'org_portal', intent: GeneratePortalLinkIntent.SSO }),
    (err) => err instanceof UnprocessableEntityException &&
             /not supported by annals/.test(err.message));
  await assert.rejects(
    workos.portal.generateLink({ organization: 'org_nope', intent: GeneratePortalLinkIntent.AuditLogs }),
    (err) => err instanceof NotFoundException);
});

test('createExport, getExport until ready, download the CSV', { skip }, async () => {
  await createOrg('org_export');
  for (let i = 0; i < 5; ++i) {
    await workos.auditLogs.createEvent('org_export', event(i % 2 ? 'invoice.paid' : 'invoice.viewed', {
      occurredAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5 + i)),
      actor: { id: `user_${i}`, type: 'user', name: i === 3 ? '=HYPERLINK("x")' : `User, ${i}` },
    }), { idempotencyKey: `export-${i}` });
  }
  let exp = await workos.auditLogs.createExport({
    organizationId: 'org_export',
    rangeStart: new Date('2026-01-01T00:00:00Z'),
    rangeEnd: new Date('2026-01-03T00:00:00Z'),
    actions: ['invoice.paid', 'invoice.viewed'],
  });
  assert.equal(exp.object, 'audit_log_export');
  assert.match(exp.id, /^exp_/);
  assert.ok(['pending', 'ready'].includes(exp.state));
  for (let i = 0; exp.state === 'pending' && i < 200; ++i) {
    await new Promise((r) => setTimeout(r, 25));
    exp = await workos.auditLogs.getExport(exp.id);
  }
  assert.equal(exp.state, 'ready');
  assert.ok(exp.url.startsWith(`http://${annals.host}:${annals.port}/`), exp.url);
  // The url needs no credentials.
  const csv = await (await fetch(exp.url)).text();
  const rows = csv.split('\r\n').filter((l) => l.length > 0);
  assert.equal(rows.length, 6);
  assert.match(rows[0], /^id,seq,organization_id,occurred_at,/);
  assert.match(rows[1], /,org_export,2026-01-02T03:04:05\.000000Z,/);
  assert.match(rows[1], /"User, 0"/);
  // A formula in a cell is neutralised.
  assert.ok(rows[4].includes(`"'=HYPERLINK(""x"")"`), rows[4]);

  // Filters: actor ids and target types, and a range with nothing in it.
  let only = await workos.auditLogs.createExport({
    organizationId: 'org_export', rangeStart: new Date('2026-01-01T00:00:00Z'),
    rangeEnd: new Date('2026-01-03T00:00:00Z'), actorIds: ['user_1'], targets: ['invoice'] });
  for (let i = 0; only.state === 'pending' && i < 200; ++i) {
    await new Promise((r) => setTimeout(r, 25));
    only = await workos.auditLogs.getExport(only.id);
  }
  assert.equal((await (await fetch(only.url)).text()).split('\r\n').filter((l) => l).length, 2);

  await assert.rejects(workos.auditLogs.getExport('exp_nope'),
                       (err) => err instanceof NotFoundException);
  await assert.rejects(workos.auditLogs.createExport({
    organizationId: 'org_export', rangeStart: new Date('2026-01-03T00:00:00Z'),
    rangeEnd: new Date('2026-01-01T00:00:00Z') }),
    (err) => err instanceof BadRequestException && err.code === 'invalid_audit_log_export_range_date');
  // A tampered url is refused (the signature's first character changed, whatever it was).
  const tampered = exp.url.replace(/signature=(.)/,
                                   (_, c) => `signature=${c === 'A' ? 'B' : 'A'}`);
  assert.notEqual(tampered, exp.url);
  const bad = await fetch(tampered);
  assert.equal(bad.status, 403);
});
