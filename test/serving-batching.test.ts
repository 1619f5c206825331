import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flywheel } from '../src/index.js';
import { Batcher, startServing, type ServingServer } from '../src/serving/index.js';
import { call, metric, probability, registerLogistic } from './helpers/serving-models.js';

describe('Batcher', () => {
  it('merges what arrives together, up to the max batch size, and splits results back', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher<number, number>(async (xs) => (calls.push(xs), xs.map((x) => x * 10)), { maxBatchSize: 4, maxBatchWaitMs: 0 });
    const out = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => batcher.submit(x, 1)));
    expect(out).toEqual([10, 20, 30, 40, 50, 60]);
    expect(calls).toEqual([[1, 2, 3, 4], [5, 6]]);
  });

  it('counts rows, not requests, and runs an oversized request alone', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher<number, number>(async (xs) => (calls.push(xs), xs), { maxBatchSize: 10, maxBatchWaitMs: 0 });
    await Promise.all([batcher.submit(1, 6), batcher.submit(2, 6), batcher.submit(3, 25), batcher.submit(4, 2)]);
    expect(calls).toEqual([[1], [2], [3], [4]]);
  });

  it('a request that fails the model fails alone; the rest of its batch succeeds', async () => {
    const batcher = new Batcher<number, number>(
      async (xs) => {
        if (xs.includes(13)) throw new Error('unlucky');
        return xs.map((x) => -x);
      },
      { maxBatchSize: 100, maxBatchWaitMs: 0 },
    );
    const settled = await Promise.allSettled([1, 13, 2].map((x) => batcher.submit(x, 1)));
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([-1, 'unlucky', -2]);
  });
});

describe('inference server: dynamic batching', () => {
  const model = { coefficients: [0.3, -0.7, 1.1], intercept: -0.2 };
  let dir: string;
  let fw: Flywheel;
  let server: ServingServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flywheel-serving-batch-'));
    fw = await Flywheel.connect(join(dir, 'flywheel.db'));
    await registerLogistic(fw, 'batched', model);
    // A generous wait so that concurrent requests surely meet; the default is 0 (next tick).
    server = await startServing({ modelUri: 'models:/batched/1', client: fw, port: 0, logLevel: 'silent', maxBatchWaitMs: 200, maxBatchSize: 32 });
  });
  afterAll(async () => {
    await server?.close();
    await fw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('concurrent requests share model calls and each gets its own answers', async () => {
    const before = (await call(server.url, '/metrics')).text;
    const count0 = metric(before, 'flywheel_serving_batch_size_count', { model_version: '1' }) ?? 0;
    const sum0 = metric(before, 'flywheel_serving_batch_size_sum', { model_version: '1' }) ?? 0;
    const inputs = Array.from({ length: 24 }, (_, i) => [[i / 10, 1 - i / 7, i % 3], [-i, i / 2, 0.5]]);
    const answers = await Promise.all(
      inputs.map((rows, i) =>
        i % 2
          ? call(server.url, '/invocations', { instances: rows })
          : call(server.url, '/v2/models/batched/infer', { inputs: [{ name: 'input', datatype: 'FP64', shape: [2, 3], data: rows }] }),
      ),
    );
    answers.forEach((res, i) => {
      expect(res.status).toBe(200);
      const p = i % 2 ? res.json.predictions.map((x: any) => x.probabilities[1]) : [res.json.outputs[1].data[1], res.json.outputs[1].data[3]];
      expect(p[0]).toBeCloseTo(probability(model, inputs[i][0]), 5);
      expect(p[1]).toBeCloseTo(probability(model, inputs[i][1]), 5);
    });
    const after = (await call(server.url, '/metrics')).text;
    const batches = metric(after, 'flywheel_serving_batch_size_count', { model_version: '1' })! - count0;
    const rows = metric(after, 'flywheel_serving_batch_size_sum', { model_version: '1' })! - sum0;
    expect(rows).toBe(48);
    // 48 rows in batches of at most 32 rows: at least 2 model calls, far fewer than 24.
    expect(batches).toBeGreaterThanOrEqual(2);
    expect(batches).toBeLessThan(24);
    expect(metric(after, 'flywheel_serving_batch_size_bucket', { model_version: '1', le: '32' })).toBe(metric(after, 'flywheel_serving_batch_size_count', { model_version: '1' }));
  });

  it('a bad request among concurrent good ones fails alone', async () => {
    const bodies = [
      { instances: [[1, 2, 3]] },
      { dataframe_records: [{ a: 1, b: 'two', c: 3 }] },
      { instances: [[0, 0, 0]] },
      { instances: [[1, 2]] },
      { inputs: { a: [1], b: [1], c: [1] } },
    ];
    const answers = await Promise.all(bodies.map((b) => call(server.url, '/invocations', b)));
    expect(answers.map((a) => a.status)).toEqual([200, 400, 200, 400, 200]);
    expect(answers[0].json.predictions[0].probabilities[1]).toBeCloseTo(probability(model, [1, 2, 3]), 5);
    expect(answers[4].json.predictions[0].probabilities[1]).toBeCloseTo(probability(model, [1, 1, 1]), 5);
  });

  it('shutdown lets requests already waiting for their batch finish', async () => {
    const s2 = await startServing({ modelUri: 'models:/batched/1', client: fw, port: 0, logLevel: 'silent', maxBatchWaitMs: 300 });
    const pending = call(s2.url, '/invocations', { instances: [[1, 1, 1]] });
    // Wait until the request is inside the server (in flight), then close while it waits for its batch.
    for (let i = 0; i < 500; i++) {
      if (metric(await s2.metrics.registry.metrics(), 'flywheel_serving_in_flight_requests') === 1) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const closed = s2.close();
    const res = await pending;
    await closed;
    expect(res.status).toBe(200);
    expect(res.json.predictions[0].probabilities[1]).toBeCloseTo(probability(model, [1, 1, 1]), 5);
    await expect(fetch(s2.url + '/ping')).rejects.toThrow();
  });
});
