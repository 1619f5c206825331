import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flywheel } from '../src/index.js';
import type { DeploymentInfo, DeploymentReporter, InferenceLogSink, InferenceRecord } from '../src/serving/contracts.js';
import { startServing, type ServingServer } from '../src/serving/index.js';
import { call, metric, probability, registerJs, registerLogistic, type Logistic } from './helpers/serving-models.js';

/** A sink that keeps what it is given (the real one ships it; the contract is the same). */
function memorySink(): InferenceLogSink & { records: InferenceRecord[]; closed: boolean } {
  return {
    records: [],
    closed: false,
    record(entry) {
      this.records.push(entry);
    },
    async flush() {},
    async close() {
      this.closed = true;
    },
    stats() {
      return { queued: 0, shipped: this.records.length, dropped: 0, failedAttempts: 0 };
    },
  };
}

function memoryReporter(): DeploymentReporter & { calls: [string, unknown][] } {
  return {
    calls: [],
    async start(info: DeploymentInfo) {
      this.calls.push(['start', info]);
    },
    async update(change) {
      this.calls.push(['update', change]);
    },
    async stop() {
      this.calls.push(['stop', null]);
    },
  };
}

describe('inference server: both protocols on a registered ONNX model', () => {
  const model: Logistic = { coefficients: [0.8, -1.5, 0.25], intercept: 0.1 };
  const rows = [[1, 2, 3], [0.5, -1, 4], [0, 0, 0]];
  const expected = rows.map((r) => probability(model, r));
  let dir: string;
  let fw: Flywheel;
  let server: ServingServer;
  let sink: ReturnType<typeof memorySink>;
  let reporter: ReturnType<typeof memoryReporter>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flywheel-serving-'));
    fw = await Flywheel.connect(join(dir, 'flywheel.db'));
    await registerLogistic(fw, 'fraud', { coefficients: [9, 9, 9], intercept: 0 });
    expect(await registerLogistic(fw, 'fraud', model, undefined, [{ a: 1, b: 1, c: 1 }])).toBe('2');
    sink = memorySink();
    reporter = memoryReporter();
    server = await startServing({ modelUri: 'models:/fraud/2', client: fw, port: 0, logLevel: 'silent', sink, reporter });
  });
  afterAll(async () => {
    await server?.close();
    await fw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const checkRecords = (predictions: any[]) => {
    expect(predictions).toHaveLength(rows.length);
    predictions.forEach((p, i) => {
      expect(p.probabilities[1]).toBeCloseTo(expected[i], 5);
      expect(p.probabilities[0]).toBeCloseTo(1 - expected[i], 5);
      expect(p.label).toBe(expected[i] >= 0.5 ? 1 : 0);
    });
  };

  it('answers every MLflow request format with the same predictions', async () => {
    const columns = ['a', 'b', 'c'];
    const bodies = [
      { dataframe_split: { columns, data: rows } },
      { dataframe_split: { columns: ['c', 'a', 'b'], data: rows.map(([a, b, c]) => [c, a, b]) } },
      { dataframe_records: rows.map(([a, b, c]) => ({ a, b, c })) },
      { instances: rows },
      { instances: rows.map(([a, b, c]) => ({ a, b, c })) },
      { inputs: rows },
      { inputs: { a: rows.map((r) => r[0]), b: rows.map((r) => r[1]), c: rows.map((r) => r[2]) } },
    ];
    for (const body of bodies) {
      const res = await call(server.url, '/invocations', body);
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      checkRecords(res.json.predictions);
    }
    const csv = await fetch(new URL('/invocations', server.url), {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: `,a,b,c\n${rows.map((r, i) => `${i},${r.join(',')}`).join('\r\n')}\n`,
    });
    expect(csv.status).toBe(200);
    checkRecords(((await csv.json()) as any).predictions);
    const charset = await call(server.url, '/invocations', { instances: rows }, { 'content-type': 'application/json; charset=utf-8' });
    expect(charset.status).toBe(200);
  });

  it('answers /ping, /health and /version', async () => {
    for (const path of ['/ping', '/health']) {
      const res = await call(server.url, path);
      expect(res.status).toBe(200);
      expect(res.text).toBe('\n');
    }
    const version = await call(server.url, '/version');
    expect(version.status).toBe(200);
    expect(version.text).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('answers the Open Inference Protocol v2: health, metadata, readiness and infer', async () => {
    expect((await call(server.url, '/v2/health/live')).json).toEqual({ live: true });
    expect((await call(server.url, '/v2/health/ready')).json).toEqual({ ready: true });
    expect((await call(server.url, '/v2/models/fraud/ready')).json).toEqual({ name: 'fraud', ready: true });
    const meta = await call(server.url, '/v2/models/fraud');
    expect(meta.json).toEqual({
      name: 'fraud',
      versions: ['2'],
      platform: 'onnxruntime_onnx',
      inputs: ['a', 'b', 'c'].map((name) => ({ name, datatype: 'FP64', shape: [-1] })),
      outputs: [{ name: 'label', datatype: 'INT64', shape: [-1] }, { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
    });
    expect((await call(server.url, '/v2/models/fraud/versions/2')).status).toBe(200);
    const otherVersion = await call(server.url, '/v2/models/fraud/versions/1');
    expect(otherVersion.status).toBe(404);
    expect(otherVersion.json.error).toMatch(/Version 1 of 'fraud' is not served/);
    const unknown = await call(server.url, '/v2/models/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatch(/'nope' is not served.*'fraud'/);

    // One tensor per column.
    const byColumn = await call(server.url, '/v2/models/fraud/infer', {
      id: 'req-1',
      inputs: ['a', 'b', 'c'].map((name, j) => ({ name, datatype: 'FP64', shape: [rows.length], data: rows.map((r) => r[j]) })),
    });
    expect(byColumn.status).toBe(200);
    expect(byColumn.json).toMatchObject({ model_name: 'fraud', model_version: '2', id: 'req-1' });
    const [label, probs] = byColumn.json.outputs;
    expect(label).toEqual({ name: 'label', datatype: 'INT64', shape: [3], data: expected.map((p) => (p >= 0.5 ? 1 : 0)) });
    expect(probs).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [3, 2] });
    expected.forEach((p, i) => expect(probs.data[2 * i + 1]).toBeCloseTo(p, 5));

    // One [rows, features] tensor (data flat or nested), and only the outputs asked for.
    for (const data of [rows.flat(), rows]) {
      const matrix = await call(server.url, '/v2/models/fraud/infer', {
        inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 3], data }],
        outputs: [{ name: 'probabilities' }],
      });
      expect(matrix.status).toBe(200);
      expect(matrix.json.outputs.map((o: any) => o.name)).toEqual(['probabilities']);
      expected.forEach((p, i) => expect(matrix.json.outputs[0].data[2 * i + 1]).toBeCloseTo(p, 5));
    }
    const versioned = await call(server.url, '/v2/models/fraud/versions/2/infer', { inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 3], data: [1, 2, 3] }] });
    expect(versioned.status).toBe(200);
  });

  it('returns a request id on every answer, honouring a sane incoming one', async () => {
    const mine = await call(server.url, '/invocations', { instances: rows }, { 'x-request-id': 'trace-abc.123' });
    expect(mine.headers.get('x-request-id')).toBe('trace-abc.123');
    const insane = await call(server.url, '/ping', undefined, { 'x-request-id': 'no spaces <script>' });
    expect(insane.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const none = await call(server.url, '/v2/health/live');
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(none.headers.get('x-request-id')).not.toBe(insane.headers.get('x-request-id'));
  });

  it('records every prediction and every error in the inference log, one input per row', async () => {
    sink.records.length = 0;
    await call(server.url, '/invocations', { dataframe_records: [{ a: 1, b: 2, c: 3 }, { a: 0, b: 0, c: 0 }] }, { 'x-request-id': 'logged-1' });
    await call(server.url, '/v2/models/fraud/infer', { inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 3], data: [1, 2, 3] }] }, { 'x-request-id': 'logged-2' });
    await call(server.url, '/invocations', { dataframe_records: [{ a: 'x', b: 2, c: 3 }] }, { 'x-request-id': 'logged-3' });
    await call(server.url, '/invocations', '{not json', { 'x-request-id': 'logged-4' });
    const byId = Object.fromEntries(sink.records.map((r) => [r.requestId, r]));
    expect(byId['logged-1']).toMatchObject({
      modelName: 'fraud', modelVersion: '2', modelUri: 'models:/fraud/2', protocol: 'mlflow', status: 200, variant: null,
      inputs: [{ a: 1, b: 2, c: 3 }, { a: 0, b: 0, c: 0 }],
    });
    expect(byId['logged-1'].outputs).toHaveLength(2);
    expect((byId['logged-1'].outputs[0] as any).probabilities[1]).toBeCloseTo(probability(model, [1, 2, 3]), 5);
    expect(byId['logged-1'].latencyMs).toBeGreaterThan(0);
    expect(byId['logged-2']).toMatchObject({ protocol: 'v2', status: 200, inputs: [{ a: 1, b: 2, c: 3 }] });
    expect(byId['logged-3']).toMatchObject({ status: 400, outputs: [], error: expect.stringMatching(/Column 'a' expects double/) });
    expect(byId['logged-4']).toMatchObject({ status: 400, error: expect.stringMatching(/Malformed JSON/) });
  });

  it('exposes Prometheus metrics by endpoint, status and model version', async () => {
    const text = (await call(server.url, '/metrics')).text;
    expect(metric(text, 'flywheel_serving_requests_total', { endpoint: '/invocations', status: '200', model_version: '2' })).toBeGreaterThan(5);
    expect(metric(text, 'flywheel_serving_requests_total', { endpoint: '/invocations', status: '400', model_version: '2' })).toBeGreaterThanOrEqual(2);
    expect(metric(text, 'flywheel_serving_request_duration_seconds_count', { endpoint: '/v2/models/:name/infer', status: '200', model_version: '2' })).toBeGreaterThan(0);
    expect(metric(text, 'flywheel_serving_batch_size_count', { model_version: '2' })).toBeGreaterThan(0);
    expect(metric(text, 'flywheel_serving_model_load_seconds', { model_version: '2' })).toBeGreaterThan(0);
    expect(metric(text, 'flywheel_serving_model_info', { model_name: 'fraud', model_version: '2' })).toBe(1);
    expect(metric(text, 'flywheel_serving_in_flight_requests')).toBe(1); // this request
  });

  it('reports the deployment on start and stop, and closes the inference log', async () => {
    expect(reporter.calls[0]).toEqual(['start', expect.objectContaining({ name: 'fraud', modelName: 'fraud', modelVersion: '2', modelUri: 'models:/fraud/2', endpoint: server.url })]);
    const s2Sink = memorySink();
    const s2Reporter = memoryReporter();
    const s2 = await startServing({ modelUri: 'models:/fraud/1', client: fw, port: 0, logLevel: 'silent', sink: s2Sink, reporter: s2Reporter });
    await s2.close();
    expect(s2Reporter.calls.map((c) => c[0])).toEqual(['start', 'stop']);
    expect(s2Sink.closed).toBe(true);
    expect((await fetch(s2.url + '/ping').catch((e: Error) => e)) instanceof Error).toBe(true);
  });
});

describe('inference server: js flavor', () => {
  let dir: string;
  let fw: Flywheel;
  let server: ServingServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flywheel-serving-js-'));
    fw = await Flywheel.connect(join(dir, 'flywheel.db'));
    await registerJs(fw, 'scorer', dir);
    server = await startServing({ modelUri: 'models:/scorer/1', client: fw, port: 0, logLevel: 'silent', allowJs: true, maxBatchWaitMs: 5 });
  });
  afterAll(async () => {
    await server?.close();
    await fw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused unless js models are allowed', async () => {
    await expect(startServing({ modelUri: 'models:/scorer/1', client: fw, port: 0, logLevel: 'silent' })).rejects.toThrow(/js.*runs its code/);
  });

  it('answers MLflow and v2 requests, batched or not', async () => {
    const split = await call(server.url, '/invocations', { dataframe_split: { columns: ['a', 'b'], data: [[1, 2], [3, 4]] } });
    expect(split.json).toEqual({ predictions: [4, 10] });
    const records = await call(server.url, '/invocations', { dataframe_records: [{ a: 5, b: 1 }] });
    expect(records.json).toEqual({ predictions: [11] });
    const concurrent = await Promise.all(
      Array.from({ length: 8 }, (_, i) => call(server.url, '/invocations', { instances: [[i, 1], [i, 2]] })),
    );
    concurrent.forEach((res, i) => expect(res.json).toEqual({ predictions: [2 * i + 1, 2 * i + 2] }));
    const v2 = await call(server.url, '/v2/models/scorer/infer', {
      inputs: [{ name: 'a', datatype: 'FP64', shape: [2], data: [1, 2] }, { name: 'b', datatype: 'FP64', shape: [2, 1], data: [[0.5], [0]] }],
    });
    expect(v2.status).toBe(200);
    expect(v2.json.outputs).toEqual([{ name: 'predictions', datatype: 'FP64', shape: [2], data: [2.5, 4] }]);
    const meta = await call(server.url, '/v2/models/scorer');
    expect(meta.json).toMatchObject({ name: 'scorer', versions: ['1'], platform: 'flywheel_js' });
    const bad = await call(server.url, '/invocations', { dataframe_records: [{ a: 1, b: '2' }] });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/Column 'b' expects double, got string "2"/);
  });
});
