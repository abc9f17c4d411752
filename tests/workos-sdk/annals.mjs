// A real `annals serve` for the SDK tests: the binary named by ANNALS_BINARY (set by ctest),
// on a free port with a temporary data directory, its platform admin key, and helpers that
// talk to it over raw HTTP (the native API, and WorkOS routes the SDK has no method for).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const binary = process.env.ANNALS_BINARY;
export const adminKey = 'workos-sdk-test-admin-key-0123456789abcdef';

// Starts annals; resolves to {base, host, port, stop()}. `env` adds ANNALS_* settings.
export async function startAnnals(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'annals-workos-sdk-'));
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('ANNALS_')));
  const server = spawn(binary, ['serve', '--data', join(dir, 'data'), '--listen', '127.0.0.1:0'],
                       { env: { ...clean, ANNALS_ADMIN_KEY: adminKey, ...env },
                         stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`annals did not start: ${text}`)), 30000);
    server.stderr.on('data', (chunk) => {
      text += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.on('exit', (code) => reject(new Error(`annals exited with ${code}: ${text}`)));
  });
  server.stderr.resume();
  const url = new URL(base);
  return {
    base,
    host: url.hostname,
    port: Number(url.port),
    stop() {
      server.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// One raw HTTP request; resolves to {status, headers, body (parsed JSON or text)}.
export async function call(annals, method, path, { body, key = adminKey, headers = {} } = {}) {
  const h = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const r = await fetch(`${annals.base}${path}`,
                        { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: r.status, headers: r.headers, body: parsed };
}

// The events of an organization, oldest first, through the native API.
export async function events(annals, org, query = '') {
  const r = await call(annals, 'GET', `/v1/events?limit=1000&order=asc&organization_id=${org}${query}`);
  if (r.status !== 200) throw new Error(`GET /v1/events: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data;
}
