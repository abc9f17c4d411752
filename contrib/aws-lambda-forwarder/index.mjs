// An AWS Lambda handler (Node.js 20, no dependencies) that forwards its event -- a DynamoDB
// stream batch or an SQS batch -- to annals, and returns annals' partial batch response so
// that Lambda retries exactly the records annals could not store.
//
// Environment:
//   ANNALS_URL          base URL of annals, e.g. https://audit.example.com (required)
//   ANNALS_KEY          an API key with the events:write scope (required)
//   ANNALS_SOURCE_NAME  the [[sources.dynamodb]] or [[sources.sqs]] name (required)
//   ANNALS_SOURCE_KIND  "dynamodb" or "sqs"; by default derived from the records' eventSource
//   ANNALS_TIMEOUT_MS   how long to wait for annals (default: the invocation's remaining time
//                       minus 2 s, at least 1 s)
//
// Anything but a well-formed 200 answer (a network error, a timeout, a non-200 status, a
// body that is not a partial batch response) throws: Lambda then treats the whole batch as
// failed and retries it (see README.md for why this, rather than listing every record).

const KINDS = { 'aws:dynamodb': 'dynamodb', 'aws:sqs': 'sqs' };

function setting(name, required) {
  const value = process.env[name];
  if (required && (value === undefined || value === '')) {
    throw new Error(`the environment variable ${name} is required`);
  }
  return value ?? '';
}

// The source kind from the configuration or from the records.
function sourceKind(records) {
  const configured = setting('ANNALS_SOURCE_KIND', false);
  if (configured !== '') {
    if (configured !== 'dynamodb' && configured !== 'sqs') {
      throw new Error(`ANNALS_SOURCE_KIND must be "dynamodb" or "sqs", not "${configured}"`);
    }
    return configured;
  }
  const kinds = new Set(records.map((r) => KINDS[r?.eventSource] ?? `unknown (${r?.eventSource})`));
  if (kinds.size !== 1) {
    throw new Error(`cannot tell the source kind: the records come from ${[...kinds].join(', ')}; ` +
                    'set ANNALS_SOURCE_KIND');
  }
  const [kind] = kinds;
  if (kind !== 'dynamodb' && kind !== 'sqs') {
    throw new Error(`records with eventSource ${kind} are neither DynamoDB stream records nor SQS ` +
                    'messages; set ANNALS_SOURCE_KIND');
  }
  return kind;
}

// The id Lambda's partial batch response names a record by.
function itemIdentifier(kind, record) {
  return kind === 'dynamodb' ? record?.dynamodb?.SequenceNumber : record?.messageId;
}

function timeoutMs(context) {
  const configured = Number(setting('ANNALS_TIMEOUT_MS', false));
  if (configured > 0) return configured;
  if (typeof context?.getRemainingTimeInMillis === 'function') {
    return Math.max(1000, context.getRemainingTimeInMillis() - 2000);
  }
  return 30000;
}

function describeError(status, text) {
  try {
    const error = JSON.parse(text)?.error;
    if (error?.message) {
      const detail = error.details?.[0];
      return `${status} ${error.code}: ${error.message}` +
             (detail ? ` (${detail.path}: ${detail.message})` : '');
    }
  } catch {
    // not an annals error body
  }
  return `${status}: ${text.slice(0, 300)}`;
}

export async function handler(event, context) {
  const records = event?.Records;
  if (!Array.isArray(records)) {
    throw new Error('the event has no Records array: this function takes DynamoDB stream or SQS ' +
                    'batches');
  }
  if (records.length === 0) return { batchItemFailures: [] };
  const base = setting('ANNALS_URL', true).replace(/\/+$/, '');
  const key = setting('ANNALS_KEY', true);
  const name = setting('ANNALS_SOURCE_NAME', true);
  const kind = sourceKind(records);
  const url = `${base}/v1/sources/${kind}/${encodeURIComponent(name)}`;

  const body = JSON.stringify(event);
  const signal = AbortSignal.timeout(timeoutMs(context));
  let response;
  let text;
  // A connection kept alive from an earlier invocation may have been closed by annals while
  // this environment was frozen; one more attempt on a fresh connection is safe because
  // annals stores each record once whatever the number of deliveries.
  for (let attempt = 1; ; ++attempt) {
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'user-agent': 'annals-aws-lambda-forwarder/1',
        },
        body,
        signal,
      });
      text = await response.text();
      break;
    } catch (err) {
      if (attempt < 2 && !signal.aborted) continue;
      throw new Error(`annals could not be reached at ${url}: ${err?.cause?.message ?? err?.message}; ` +
                      'the whole batch will be retried');
    }
  }
  if (response.status !== 200) {
    throw new Error(`annals refused the batch (${describeError(response.status, text)}); the ` +
                    'whole batch will be retried');
  }
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new Error('annals answered 200 with a body that is not JSON; the whole batch will be ' +
                    'retried');
  }
  if (!Array.isArray(answer?.batchItemFailures)) {
    throw new Error('annals answered 200 without batchItemFailures; the whole batch will be retried');
  }
  const ids = new Set(records.map((r) => itemIdentifier(kind, r)));
  const failures = [];
  for (const failure of answer.batchItemFailures) {
    const id = failure?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !ids.has(id)) {
      throw new Error(`annals named a record that is not in the batch (${JSON.stringify(id)}); ` +
                      'the whole batch will be retried');
    }
    failures.push({ itemIdentifier: id });
  }
  if (failures.length > 0) {
    // Why, for the function's log: annals answers with each record's outcome.
    const reasons = (answer.records ?? []).filter((r) => r?.error).slice(0, 10)
      .map((r) => `${r.itemIdentifier}: ${r.error.code}: ${r.error.message}`);
    console.error(`annals did not store ${failures.length} of ${records.length} records; ` +
                  `Lambda retries them. ${reasons.join('; ')}`);
  }
  return { batchItemFailures: failures };
}
