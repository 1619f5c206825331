import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FlywheelError } from '../src/core/index.js';
import { Flywheel, HttpTrackingClient } from '../src/client/index.js';

/** A scripted stand-in for a tracking server: each test says how to answer and reads what arrived. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}
type Responder = (req: Seen, res: ServerResponse, count: number) => void;

let server: Server;
let baseUrl: string;
let seen: Seen[] = [];
let respond: Responder = (_req, res) => json(res, 200, {});

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      respond(s, res, seen.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

afterEach(() => {
  seen = [];
  respond = (_req, res) => json(res, 200, {});
  delete process.env.MLFLOW_TRACKING_TOKEN;
  delete process.env.MLFLOW_TRACKING_USERNAME;
  delete process.env.MLFLOW_TRACKING_PASSWORD;
});

const client = (extra: Partial<ConstructorParameters<typeof HttpTrackingClient>[0]> = {}) =>
  new HttpTrackingClient({ baseUrl, backoffMs: 1, maxRetries: 3, ...extra });

async function failure(p: Promise<unknown>): Promise<FlywheelError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FlywheelError);
  return e as FlywheelError;
}

describe('HttpTrackingClient wire format', () => {
  it('sends GET parameters in the query string, repeating keys for lists', async () => {
    respond = (_req, res) => json(res, 200, { metrics: [{ key: 'm', value: 1, timestamp: 1, step: 0, run_id: 'a' }] });
    await client().getMetricHistoryBulkInterval({ run_ids: ['a', 'b'], metric_key: 'm', max_results: 10 });
    expect(seen[0].method).toBe('GET');
    expect(seen[0].url).toBe('/api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids=a&run_ids=b&metric_key=m&max_results=10');
  });

  it('sends JSON bodies with the MLflow field names and non-finite metrics as strings', async () => {
    await client().logBatch({
      run_id: 'r1',
      metrics: [
        { key: 'a', value: NaN, timestamp: 5, step: 1 },
        { key: 'b', value: Infinity, timestamp: 5, step: 1 },
        { key: 'c', value: -Infinity, timestamp: 5, step: 1 },
        { key: 'd', value: 0.5, timestamp: 5, step: 1 },
      ],
      params: [{ key: 'p', value: 'v' }],
    });
    expect(seen[0].method).toBe('POST');
    expect(seen[0].url).toBe('/api/2.0/mlflow/runs/log-batch');
    expect(seen[0].headers['content-type']).toBe('application/json');
    const body = JSON.parse(seen[0].body);
    expect(body.run_id).toBe('r1');
    expect(body.metrics.map((m: { value: unknown }) => m.value)).toEqual(['NaN', 'Infinity', '-Infinity', 0.5]);
    expect(body.params).toEqual([{ key: 'p', value: 'v' }]);
  });

  it('decodes "NaN"/"Infinity" metric values and fills in what the wire omits', async () => {
    respond = (req, res) =>
      req.url.startsWith('/api/2.0/mlflow/runs/get')
        ? json(res, 200, { run: { info: { run_id: 'r' }, data: { metrics: [{ key: 'x', value: 'NaN', timestamp: 1, step: 0 }] } } })
        : json(res, 200, { metrics: [{ key: 'x', value: '-Infinity', timestamp: 1, step: 0 }], next_page_token: 't2' });
    const run = await client().getRun('r');
    expect(run.data.metrics?.[0].value).toBeNaN();
    expect(run.inputs).toEqual({});
    const page = await client().getMetricHistory({ run_id: 'r', metric_key: 'x' });
    expect(page.items[0].value).toBe(-Infinity);
    expect(page.next_page_token).toBe('t2');
    respond = (_req, res) => json(res, 200, {});
    expect(await client().searchRuns({ experiment_ids: ['0'] })).toEqual({ items: [] });
  });

  it('uses the logged-models paths and methods', async () => {
    respond = (_req, res) => json(res, 200, { model: { info: { model_id: 'm-1' }, data: {} } });
    const c = client();
    await c.getLoggedModel('m-1');
    await c.finalizeLoggedModel('m-1', 'LOGGED_MODEL_READY');
    await c.deleteLoggedModelTag('m-1', 'a/b');
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /api/2.0/mlflow/logged-models/m-1',
      'PATCH /api/2.0/mlflow/logged-models/m-1',
      'DELETE /api/2.0/mlflow/logged-models/m-1/tags/a%2Fb',
    ]);
    expect(JSON.parse(seen[1].body).status).toBe('LOGGED_MODEL_READY');
  });
});

describe('HttpTrackingClient errors', () => {
  it('turns an MLflow error body into a FlywheelError with the same code', async () => {
    respond = (_req, res) => json(res, 404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'Run with id=x not found' });
    const e = await failure(client().getRun('x'));
    expect(e.code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(e.message).toBe('Run with id=x not found');
  });

  it('says which status a non-JSON error had', async () => {
    respond = (_req, res) => res.writeHead(404, { 'Content-Type': 'text/html' }).end('<h1>Not Found</h1>');
    const e = await failure(client().getRun('x'));
    expect(e.code).toBe('ENDPOINT_NOT_FOUND');
    expect(e.message).toMatch(/the server answered 404/);
    expect(e.message).toMatch(/Not Found/);
  });

  it('retries idempotent calls on 503 and 429, then succeeds', async () => {
    respond = (_req, res, n) => (n < 3 ? res.writeHead(n === 1 ? 503 : 429).end() : json(res, 200, { experiment: { experiment_id: '0' } }));
    expect((await client().getExperiment('0')).experiment_id).toBe('0');
    expect(seen).toHaveLength(3);
  });

  it('gives up after maxRetries with the last answer', async () => {
    respond = (_req, res) => json(res, 503, { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'busy' });
    const e = await failure(client({ maxRetries: 2 }).getExperiment('0'));
    expect(e.code).toBe('TEMPORARILY_UNAVAILABLE');
    expect(seen).toHaveLength(3);
  });

  it('does not repeat a non-idempotent call whose outcome is unknown (503), but does after 429', async () => {
    respond = (_req, res) => res.writeHead(503).end();
    await failure(client().createRun({ experiment_id: '0' }));
    expect(seen).toHaveLength(1);

    seen = [];
    respond = (_req, res, n) => (n === 1 ? res.writeHead(429).end() : json(res, 200, { experiment_id: '7' }));
    expect(await client().createExperiment({ name: 'x' })).toBe('7');
    expect(seen).toHaveLength(2);
  });

  it('retries a refused connection and then reports the server unreachable', async () => {
    const c = new HttpTrackingClient({ baseUrl: 'http://127.0.0.1:1', backoffMs: 1, maxRetries: 2 });
    const e = await failure(c.getExperiment('0'));
    expect(e.code).toBe('TEMPORARILY_UNAVAILABLE');
    expect(e.message).toMatch(/could not reach the server/);
  });

  it('Flywheel.connect checks that the server answers', async () => {
    respond = (req, res) => (req.url === '/health' ? res.writeHead(200).end('OK') : json(res, 500, {}));
    await Flywheel.connect({ trackingUri: baseUrl });
    expect(seen.map((s) => s.url)).toEqual(['/health']);
    const e = await failure(Flywheel.connect({ trackingUri: 'http://127.0.0.1:1', maxRetries: 0 }));
    expect(e.code).toBe('TEMPORARILY_UNAVAILABLE');
  });

  it('times out a call that gets no answer', async () => {
    respond = () => undefined; // never answers
    const e = await failure(client({ timeoutMs: 200, maxRetries: 0 }).getExperiment('0'));
    expect(e.code).toBe('DEADLINE_EXCEEDED');
  });
});

describe('HttpTrackingClient auth', () => {
  it('sends a bearer token from MLFLOW_TRACKING_TOKEN', async () => {
    process.env.MLFLOW_TRACKING_TOKEN = 'tok';
    respond = (_req, res) => json(res, 200, { experiment: {} });
    await client().getExperiment('0');
    expect(seen[0].headers.authorization).toBe('Bearer tok');
  });

  it('sends basic auth from MLFLOW_TRACKING_USERNAME/PASSWORD', async () => {
    process.env.MLFLOW_TRACKING_USERNAME = 'ann';
    process.env.MLFLOW_TRACKING_PASSWORD = 'secret';
    respond = (_req, res) => json(res, 200, { experiment: {} });
    await client().getExperiment('0');
    expect(seen[0].headers.authorization).toBe(`Basic ${Buffer.from('ann:secret').toString('base64')}`);
  });
});
