import { createServer, request, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InferenceRecord } from '../src/serving/contracts.js';
import { createInferenceLogSink, type InferenceLogDestination } from '../src/serving/inference-log.js';
import { SqlServingStore } from '../src/serving/sql-serving-store.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { DIALECTS, freshStore } from './helpers/stores.js';

function rec(i: number, over: Partial<InferenceRecord> = {}): InferenceRecord {
  return {
    requestId: `req-${i}`,
    timestamp: 1_700_000_000_000 + i * 1000,
    modelName: 'fraud',
    modelVersion: '3',
    modelUri: 'models:/fraud@champion',
    deployment: 'fraud-prod',
    variant: null,
    protocol: 'mlflow',
    inputs: [{ amount: i, country: 'FR' }],
    outputs: [i % 2],
    latencyMs: 1.5,
    status: 200,
    ...over,
  };
}

const quietLogger = () => ({ warn: vi.fn(), error: vi.fn() });

/** All rows the server lists for a query, following page tokens. */
async function listAll(server: TestServer, query: Record<string, unknown>): Promise<any[]> {
  const rows: any[] = [];
  let token: string | undefined;
  do {
    const res = await server.call('GET', '/api/v1/inference-log', { ...query, ...(token ? { page_token: token } : {}) });
    expect(res.status).toBe(200);
    rows.push(...res.json.rows);
    token = res.json.next_page_token;
  } while (token);
  return rows;
}

/** An HTTP proxy in front of a server that can be "down" (connections are cut) or pointed at a server. */
async function startProxy(): Promise<{ url: string; target: string | null; close(): Promise<void> }> {
  const state = { target: null as string | null };
  const server: Server = createServer((req, res) => {
    if (!state.target) return void req.socket.destroy();
    const to = new URL(req.url ?? '/', state.target);
    const up = request(to, { method: req.method, headers: { ...req.headers, host: to.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get target() {
      return state.target;
    },
    set target(t) {
      state.target = t;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe.each(DIALECTS)('inference log (%s)', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect);
  });
  afterAll(async () => server.close());

  it('ships records to the server, which stores one row per predicted row with its fields, listed in pages', async () => {
    const sink = createInferenceLogSink({ trackingUri: server.url, batchSize: 7, flushIntervalMs: 20, logger: quietLogger() });
    for (let i = 0; i < 20; i++) sink.record(rec(i));
    sink.record(rec(100, { inputs: [{ amount: 1 }, { amount: 2 }, { amount: 3 }], outputs: [0.1, 0.9, { label: 'x' }], variant: 'challenger', protocol: 'v2' }));
    sink.record(rec(101, { inputs: [], outputs: [], status: 400, error: "unknown column 'x'", deployment: 'other' }));
    await sink.close();
    expect(sink.stats()).toMatchObject({ queued: 0, shipped: 22, dropped: 0 });

    const all = await listAll(server, { model_name: 'fraud', max_results: 4 });
    expect(all).toHaveLength(20 + 3 + 1);
    // Oldest first, in request order.
    expect(all.map((r) => r.timestamp)).toEqual([...all.map((r) => r.timestamp)].sort((a, b) => a - b));
    expect(all[0]).toMatchObject({
      request_id: 'req-0',
      row_index: 0,
      timestamp: 1_700_000_000_000,
      model_name: 'fraud',
      model_version: '3',
      model_uri: 'models:/fraud@champion',
      deployment: 'fraud-prod',
      variant: null,
      protocol: 'mlflow',
      features: { amount: 0, country: 'FR' },
      prediction: 0,
      latency_ms: 1.5,
      status: 200,
      error: null,
      request_rows: 1,
    });
    const multi = all.filter((r) => r.request_id === 'req-100');
    expect(multi.map((r) => [r.row_index, r.features, r.prediction, r.variant, r.protocol])).toEqual([
      [0, { amount: 1 }, 0.1, 'challenger', 'v2'],
      [1, { amount: 2 }, 0.9, 'challenger', 'v2'],
      [2, { amount: 3 }, { label: 'x' }, 'challenger', 'v2'],
    ]);
    expect((await listAll(server, { request_id: 'req-100' })).map((r) => r.row_index)).toEqual([0, 1, 2]);
    const failed = all.find((r) => r.request_id === 'req-101');
    expect(failed).toMatchObject({ row_index: 0, features: null, prediction: null, status: 400, error: "unknown column 'x'", deployment: 'other' });

    // Filters: deployment, a time window [since, until), newest first.
    expect((await listAll(server, { deployment: 'other' })).map((r) => r.request_id)).toEqual(['req-101']);
    const window = await listAll(server, { model_name: 'fraud', since: 1_700_000_002_000, until: 1_700_000_005_000, order: 'desc', max_results: 2 });
    expect(window.map((r) => r.request_id)).toEqual(['req-4', 'req-3', 'req-2']);
  });

  it('stores a retried batch once', async () => {
    const body = {
      records: [
        { request_id: 'retry-1', timestamp: 5, model_uri: 'runs:/r/model', protocol: 'mlflow', inputs: [{ a: 1 }, { a: 2 }], outputs: [1, 2], latency_ms: 2, status: 200 },
      ],
    };
    const first = await server.call('POST', '/api/v1/inference-log', body);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ records: 1, rows_stored: 2, rows_duplicate: 0 });
    const again = await server.call('POST', '/api/v1/inference-log', body);
    expect(again.json).toMatchObject({ records: 1, rows_stored: 0, rows_duplicate: 2 });
    const rows = (await listAll(server, { until: 6 })).filter((r) => r.request_id === 'retry-1');
    expect(rows.map((r) => r.row_index)).toEqual([0, 1]);
  });

  it('answers bad input with 400 INVALID_PARAMETER_VALUE naming the field, never 500', async () => {
    const good = { request_id: 'b', timestamp: 1, model_uri: 'm', protocol: 'mlflow', inputs: [], outputs: [], latency_ms: 1, status: 200 };
    const cases: [unknown, RegExp][] = [
      [{}, /'records'/],
      [{ records: 'x' }, /'records'/],
      [{ records: [] }, /'records'/],
      [{ records: [{ ...good, timestamp: 'soon' }] }, /'records\[0\]\.timestamp'/],
      [{ records: [good, { ...good, protocol: 'grpc' }] }, /'records\[1\]\.protocol'/],
      [{ records: [{ ...good, request_id: 'a\u0000b' }] }, /'records\[0\]\.request_id'.*NUL/],
      [{ records: [{ ...good, inputs: [1, 2] }] }, /'records\[0\]\.inputs\[0\]'/],
      [{ records: [{ ...good, latency_ms: -1 }] }, /'records\[0\]\.latency_ms'/],
      [{ records: [{ ...good, status: 1000 }] }, /'records\[0\]\.status'/],
      [{ records: Array.from({ length: 5001 }, (_, i) => ({ ...good, request_id: `b${i}` })) }, /'records'/],
    ];
    for (const [body, message] of cases) {
      const res = await server.call('POST', '/api/v1/inference-log', body as Record<string, unknown>);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json.error_code).toBe('INVALID_PARAMETER_VALUE');
      expect(res.json.message).toMatch(message);
    }
    const raw = async (body: string, type = 'application/json') =>
      fetch(`${server.url}/api/v1/inference-log`, { method: 'POST', headers: { 'content-type': type }, body }).then(async (r) => ({ status: r.status, json: await r.json() }));
    expect(await raw('{"records": [')).toMatchObject({ status: 400, json: { error_code: 'INVALID_PARAMETER_VALUE' } });
    expect(await raw('records=1', 'application/x-www-form-urlencoded')).toMatchObject({ status: 400, json: { error_code: 'INVALID_PARAMETER_VALUE' } });
    expect(await raw('')).toMatchObject({ status: 400, json: { error_code: 'INVALID_PARAMETER_VALUE' } });
    const huge = JSON.stringify({ records: [{ ...good, error: 'x'.repeat(33 * 1024 * 1024) }] });
    expect(await raw(huge)).toMatchObject({ status: 400, json: { error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/too large/) } });

    for (const query of [{ max_results: 0 }, { max_results: 10_001 }, { since: 'yesterday' }, { page_token: 'not-a-token' }, { order: 'sideways' }, { since: 10, until: 5 }]) {
      const res = await server.call('GET', '/api/v1/inference-log', query);
      expect(res.status, JSON.stringify(query)).toBe(400);
      expect(res.json.error_code).toBe('INVALID_PARAMETER_VALUE');
    }
    // A desc token is not an asc one.
    const page = await server.call('GET', '/api/v1/inference-log', { order: 'desc', max_results: 1 });
    const mixed = await server.call('GET', '/api/v1/inference-log', { order: 'asc', page_token: page.json.next_page_token });
    expect(mixed.status).toBe(400);
  });

  it('writes into a store directly when the tracking URI is a store', async () => {
    const ts = await freshStore(dialect);
    try {
      const sink = createInferenceLogSink({ trackingUri: ts.uri, batchSize: 3, logger: quietLogger() });
      for (let i = 0; i < 5; i++) sink.record(rec(i, { requestId: `emb-${i}` }));
      await sink.close();
      expect(sink.stats()).toMatchObject({ queued: 0, shipped: 5, dropped: 0 });
      const page = await new SqlServingStore(ts.store).listInferenceLog({ limit: 100 });
      expect(page.rows.map((r) => r.request_id)).toEqual(['emb-0', 'emb-1', 'emb-2', 'emb-3', 'emb-4']);
      expect(page.rows[4]).toMatchObject({ features: { amount: 4, country: 'FR' }, prediction: 0 });

      // Keyset pages are exact where timestamps tie (insertion order breaks the tie), both ways.
      const serving = new SqlServingStore(ts.store);
      await serving.insertInferenceLog(
        ['t-a', 't-b', 't-c', 't-d', 't-e'].map((id) => ({
          request_id: id, timestamp: 42, model_name: 'tie', model_version: null, model_uri: 'm', deployment: null,
          variant: null, protocol: 'v2' as const, inputs: [{ x: 1 }], outputs: [1], latency_ms: 1, status: 200, error: null,
        })),
      );
      const ids = async (order: 'asc' | 'desc') => {
        const out: string[] = [];
        for await (const rows of serving.iterateInferenceLog({ modelName: 'tie', order, limit: 2 })) out.push(...rows.map((r) => r.request_id));
        return out;
      };
      expect(await ids('asc')).toEqual(['t-a', 't-b', 't-c', 't-d', 't-e']);
      expect(await ids('desc')).toEqual(['t-e', 't-d', 't-c', 't-b', 't-a']);
    } finally {
      await ts.dispose();
    }
  });
});

describe('inference log sink faults', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
  });
  afterAll(async () => server.close());

  it('keeps records while the server is down, retries, and delivers them when it is back; record() never waits', async () => {
    const proxy = await startProxy();
    const logger = quietLogger();
    const sink = createInferenceLogSink({ trackingUri: proxy.url, flushIntervalMs: 20, retryInitialMs: 10, retryMaxMs: 50, logger });
    try {
      for (let i = 0; i < 10_000; i++) expect(sink.record(rec(i, { requestId: `down-${i}` }))).toBeUndefined();
      // Every record is queued before any I/O could have happened: record() returned synchronously.
      expect(sink.stats()).toMatchObject({ queued: 10_000, shipped: 0, dropped: 0 });
      await vi.waitFor(() => expect(sink.stats().failedAttempts).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 10 });
      expect(sink.stats().queued).toBe(10_000);
      expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ queued: 10_000 }), expect.stringMatching(/shipping failed/));
      // Rate-limited: a warning per kind and interval, however many attempts failed.
      expect(logger.warn.mock.calls.filter(([, msg]) => /shipping failed/.test(msg))).toHaveLength(1);

      proxy.target = server.url;
      await vi.waitFor(() => expect(sink.stats()).toMatchObject({ queued: 0, shipped: 10_000 }), { timeout: 20_000, interval: 20 });
      const rows = await listAll(server, { model_name: 'fraud', max_results: 10_000 });
      expect(rows.filter((r) => String(r.request_id).startsWith('down-'))).toHaveLength(10_000);
      expect(sink.stats().dropped).toBe(0);
    } finally {
      await sink.close();
      await proxy.close();
    }
  });

  it('counts and logs a buffer overflow, and what close() could not ship', async () => {
    const failing: InferenceLogDestination = {
      description: 'nowhere',
      write: async () => {
        throw new Error('connection refused');
      },
      close: async () => {},
    };
    const logger = quietLogger();
    const sink = createInferenceLogSink({ destination: failing, maxBufferedRecords: 100, retryInitialMs: 5, closeTimeoutMs: 30, logger });
    for (let i = 0; i < 150; i++) sink.record(rec(i));
    expect(sink.stats()).toMatchObject({ queued: 100, dropped: 50 });
    const overflow = logger.warn.mock.calls.filter(([, msg]) => /buffer full/.test(msg));
    expect(overflow).toHaveLength(1);
    expect(overflow[0]![0]).toMatchObject({ dropped: 1, capacity: 100 });

    await sink.close();
    expect(sink.stats()).toMatchObject({ queued: 0, dropped: 150, abandonedAtClose: 100 });
    expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ dropped: 100 }), expect.stringMatching(/could not be shipped/));
    sink.record(rec(1));
    expect(sink.stats().dropped).toBe(151);
  });

  it('drops only the record the server refuses, with a logged reason, and ships the rest of its batch', async () => {
    const logger = quietLogger();
    const sink = createInferenceLogSink({ trackingUri: server.url, batchSize: 50, logger });
    for (let i = 0; i < 10; i++) sink.record(rec(i, { requestId: i === 6 ? 'bad\u0000id' : `poison-${i}` }));
    await sink.close();
    expect(sink.stats()).toMatchObject({ queued: 0, shipped: 9, dropped: 1, rejected: 1 });
    expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ reason: expect.stringMatching(/NUL/) }), expect.stringMatching(/refused/));
    const rows = await listAll(server, { model_name: 'fraud', max_results: 10_000 });
    expect(rows.filter((r) => String(r.request_id).startsWith('poison-'))).toHaveLength(9);
  });

  it('keeps records (not rejected) while the server refuses the credentials, and flush() gives up without hanging', async () => {
    const denying = createServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error_code":"UNAUTHENTICATED","message":"no"}');
    });
    await new Promise<void>((r) => denying.listen(0, '127.0.0.1', r));
    const logger = quietLogger();
    const sink = createInferenceLogSink({ trackingUri: `http://127.0.0.1:${(denying.address() as { port: number }).port}`, closeTimeoutMs: 50, logger });
    try {
      for (let i = 0; i < 3; i++) sink.record(rec(i));
      await sink.flush();
      expect(sink.stats()).toMatchObject({ queued: 3, shipped: 0, rejected: 0, dropped: 0, lastError: expect.stringMatching(/401/) });
      expect(sink.stats().failedAttempts).toBeGreaterThanOrEqual(1);
      await sink.close();
      expect(sink.stats()).toMatchObject({ queued: 0, dropped: 3, abandonedAtClose: 3 });
    } finally {
      await new Promise<void>((r) => denying.close(() => r()));
    }
  });

  it('writes a JSONL file that parses back to the records when no tracking URI is given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flywheel-ilog-'));
    try {
      const file = join(dir, 'logs', 'inference.jsonl');
      const logger = quietLogger();
      const sink = createInferenceLogSink({ file, batchSize: 2, logger });
      expect(sink.destination).toBe(file);
      const records = [rec(1), rec(2, { inputs: [{ v: new Float32Array([1, 2]) as unknown }], outputs: [[0.25, 0.75]] }), rec(3, { status: 500, error: 'boom', outputs: [] })];
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      sink.record(records[0]!);
      sink.record(rec(9, { inputs: [cyclic] }));
      sink.record(records[1]!);
      sink.record(records[2]!);
      await sink.close();
      // The record that cannot be JSON is dropped alone, counted and logged; the others are written.
      expect(sink.stats()).toMatchObject({ shipped: 3, rejected: 1, dropped: 1 });
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      expect(lines.map((l) => JSON.parse(l))).toEqual([records[0], { ...records[1], inputs: [{ v: [1, 2] }] }, records[2]]);
      expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ requestId: 'req-9' }), expect.stringMatching(/cannot be written as JSON/));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
