#!/usr/bin/env node
// Starts s3rver (a local S3 implementation, pinned in package-lock.json) for the S3 sink
// tests, behind a front that checks what s3rver 3.7.1 does not: the SigV4 signature itself.
//
// s3rver 3.7.1 parses SigV4 Authorization headers and checks the access key id
// (InvalidAccessKeyId), the presence and form of x-amz-content-sha256 and the request time
// (RequestTimeTooSkewed), but never recomputes a V4 signature ("Signature version 4
// calculation is unimplemeneted" in lib/middleware/authentication.js) and ignores
// Content-MD5. So every request first goes through `verify` below, an implementation of
// S3's SigV4 checks written for these tests from AWS's specification (independent of the
// C++ signer under test): it answers as S3 does (403 SignatureDoesNotMatch, 400
// XAmzContentSHA256Mismatch, 400 BadDigest, 400 AuthorizationHeaderMalformed for a wrong
// region, 403 AccessDenied for unsigned x-amz-* headers) and forwards every request it
// accepts, unchanged, to s3rver, which stores and serves the objects.
//
// Usage: node serve.js --directory DIR --bucket NAME [--bucket NAME ...] [--region REGION]
// Prints "listening 127.0.0.1:<port>" once both servers accept connections; exits on
// SIGTERM, SIGINT, or when its stdin closes (the test process is gone).
'use strict';

const crypto = require('crypto');
const http = require('http');
const S3rver = require('s3rver');

// s3rver's built-in account.
const SECRETS = { S3RVER: 'S3RVER' };

function parseArgs(argv) {
  const args = { buckets: [], region: 'us-east-1', directory: undefined };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--directory': args.directory = value; i++; break;
      case '--bucket': args.buckets.push(value); i++; break;
      case '--region': args.region = value; i++; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!args.directory) throw new Error('--directory is required');
  return args;
}

const sha256Hex = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

// RFC 3986 unreserved characters stay, everything else is %XX (uppercase).
function encode(text) {
  return encodeURIComponent(text).replace(
    /[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function decode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function xmlEscape(text) {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' }[c]));
}

function s3Error(status, code, message) {
  return { status, code, message };
}

// Returns null when the request may go on to s3rver, or the error S3 would answer.
function verify(req, body, region) {
  const authorization = req.headers['authorization'];
  if (authorization === undefined) return null; // anonymous: s3rver decides
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/(\d{8})\/([^/,]+)\/([^/,]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(authorization);
  if (!m) {
    return s3Error(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
  }
  const [, accessKeyId, date, scopeRegion, service, signedHeaders, signature] = m;
  const secret = SECRETS[accessKeyId];
  if (secret === undefined) return null; // s3rver answers InvalidAccessKeyId
  if (scopeRegion !== region) {
    return s3Error(400, 'AuthorizationHeaderMalformed',
      `The authorization header is malformed; the region '${scopeRegion}' is wrong; expecting '${region}'`);
  }
  if (service !== 's3') {
    return s3Error(400, 'AuthorizationHeaderMalformed',
      `The authorization header is malformed; the service '${service}' is wrong; expecting 's3'`);
  }
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || amzDate.slice(0, 8) !== date) {
    return s3Error(400, 'AuthorizationHeaderMalformed',
      'The authorization header is malformed; the credential date does not match x-amz-date.');
  }
  const payloadHash = req.headers['x-amz-content-sha256'];
  if (payloadHash === undefined) {
    return s3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  }
  if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== sha256Hex(body)) {
    return s3Error(400, 'XAmzContentSHA256Mismatch',
      "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  const md5 = req.headers['content-md5'];
  if (md5 !== undefined && md5 !== crypto.createHash('md5').update(body).digest('base64')) {
    return s3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  }
  const signed = signedHeaders.split(';');
  if (!signed.includes('host')) {
    return s3Error(403, 'AccessDenied', 'The host header must be signed.');
  }
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith('x-amz-') && !signed.includes(name)) {
      return s3Error(403, 'AccessDenied', 'There were headers present in the request which were not signed');
    }
  }

  // Header values as sent, repeated names in order.
  const values = new Map();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    const value = req.rawHeaders[i + 1].trim().replace(/[ \t]+/g, ' ');
    if (!values.has(name)) values.set(name, []);
    values.get(name).push(value);
  }
  let canonicalHeaders = '';
  for (const name of signed) {
    if (!values.has(name)) {
      return s3Error(403, 'AccessDenied', `The signed header '${name}' is not in the request.`);
    }
    canonicalHeaders += `${name}:${values.get(name).join(',')}\n`;
  }

  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
  const canonicalUri = rawPath.split('/').map((segment) => encode(decode(segment))).join('/');
  const canonicalQuery = rawQuery === '' ? '' : rawQuery.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    return [encode(decode(name)), encode(decode(value))];
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`).join('&');

  const canonicalRequest = [req.method, canonicalUri, canonicalQuery, canonicalHeaders,
    signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${scopeRegion}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key = hmac('AWS4' + secret, date);
  key = hmac(key, scopeRegion);
  key = hmac(key, service);
  key = hmac(key, 'aws4_request');
  const expected = crypto.createHmac('sha256', key).update(stringToSign).digest('hex');
  if (!crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    return s3Error(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. ' +
      'Check your key and signing method.');
  }
  return null;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const s3rver = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: args.directory,
    configureBuckets: args.buckets.map((name) => ({ name, configs: [] })),
  });
  const inner = await s3rver.run();

  const front = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const error = verify(req, body, args.region);
      if (error) {
        const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + error.code +
          '</Code><Message>' + xmlEscape(error.message) + '</Message><RequestId>' +
          crypto.randomBytes(8).toString('hex') + '</RequestId></Error>';
        res.writeHead(error.status, { 'content-type': 'application/xml' });
        res.end(xml);
        return;
      }
      const headers = { ...req.headers };
      delete headers['transfer-encoding'];
      headers['content-length'] = String(body.length);
      const forward = http.request({
        host: '127.0.0.1', port: inner.port, method: req.method, path: req.url, headers,
      }, (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      });
      forward.on('error', (err) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
      forward.end(body);
    });
  });
  await new Promise((resolve) => front.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`listening 127.0.0.1:${front.address().port}\n`);

  const stop = () => {
    front.close();
    s3rver.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

main().catch((err) => {
  process.stderr.write(`serve.js: ${err.stack || err}\n`);
  process.exit(1);
});
