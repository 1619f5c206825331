import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flywheel } from '../src/index.js';
import type { InferenceRecord } from '../src/serving/contracts.js';
import { startServing, type ServingServer } from '../src/serving/index.js';
import { call, metric, probability, registerLogistic, type Logistic } from './helpers/serving-models.js';

describe('inference server: traffic split and shadow mode', () => {
  const v1: Logistic = { coefficients: [1, 0, 0], intercept: 0 };
  const v2: Logistic = { coefficients: [0, 1, 0], intercept: 0.5 };
  const row = [0.3, -0.4, 2];
  let dir: string;
  let fw: Flywheel;
  const servers: ServingServer[] = [];
  const sinkOf = (records: InferenceRecord[]) => ({
    record: (r: InferenceRecord) => void records.push(r),
    flush: async () => undefined,
    close: async () => undefined,
    stats: () => ({ queued: 0, shipped: 0, dropped: 0, failedAttempts: 0 }),
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flywheel-serving-split-'));
    fw = await Flywheel.connect(join(dir, 'flywheel.db'));
    await registerLogistic(fw, 'churn', v1);
    await registerLogistic(fw, 'churn', v2);
    await fw.setAlias('churn', 'champion', 1);
    await fw.setAlias('churn', 'challenger', 2);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await fw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const p1 = (res: any) => res.json.predictions[0].probabilities[1];

  it('sends the challenger its share, labelled in metrics and in the inference log', async () => {
    const records: InferenceRecord[] = [];
    let coin = 0;
    const server = await startServing({
      modelUri: 'models:/churn@champion', challengerUri: 'models:/churn@challenger', challengerWeight: 0.25,
      random: () => (coin++ % 4 === 0 ? 0.1 : 0.9), client: fw, port: 0, logLevel: 'silent', sink: sinkOf(records),
    });
    servers.push(server);
    const answers = [];
    const labels = [];
    for (let i = 0; i < 8; i++) {
      const res = await call(server.url, '/invocations', { instances: [row] });
      answers.push(p1(res));
      labels.push(`${res.headers.get('x-flywheel-variant')}:${res.headers.get('x-flywheel-model-version')}`);
    }
    expect(labels).toEqual(['challenger:2', 'champion:1', 'champion:1', 'champion:1', 'challenger:2', 'champion:1', 'champion:1', 'champion:1']);
    const fromV2 = answers.filter((p) => Math.abs(p - probability(v2, row)) < 1e-5).length;
    const fromV1 = answers.filter((p) => Math.abs(p - probability(v1, row)) < 1e-5).length;
    expect([fromV1, fromV2]).toEqual([6, 2]);
    const text = (await call(server.url, '/metrics')).text;
    expect(metric(text, 'flywheel_serving_requests_total', { endpoint: '/invocations', variant: 'challenger', model_version: '2' })).toBe(2);
    expect(metric(text, 'flywheel_serving_requests_total', { endpoint: '/invocations', variant: 'champion', model_version: '1' })).toBe(6);
    expect(records.map((r) => `${r.variant}:${r.modelVersion}`).sort()).toEqual([...Array(2).fill('challenger:2'), ...Array(6).fill('champion:1')]);
    expect(records.find((r) => r.variant === 'challenger')!.modelUri).toBe('models:/churn@challenger');
  });

  it('shadow mode answers with the champion and logs the shadow’s prediction too', async () => {
    const records: InferenceRecord[] = [];
    const server = await startServing({ modelUri: 'models:/churn@champion', shadowUri: 'models:/churn/2', client: fw, port: 0, logLevel: 'silent', sink: sinkOf(records) });
    servers.push(server);
    for (let i = 0; i < 3; i++) {
      const res = await call(server.url, '/invocations', { instances: [row] }, { 'x-request-id': `shadow-${i}` });
      expect(p1(res)).toBeCloseTo(probability(v1, row), 5);
    }
    const deadline = Date.now() + 10_000;
    while (records.filter((r) => r.variant === 'shadow').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const shadow = records.filter((r) => r.variant === 'shadow');
    expect(shadow.map((r) => r.requestId).sort()).toEqual(['shadow-0', 'shadow-1', 'shadow-2']);
    expect(shadow[0]).toMatchObject({ modelVersion: '2', modelUri: 'models:/churn/2', status: 200 });
    expect((shadow[0].outputs[0] as any).probabilities[1]).toBeCloseTo(probability(v2, row), 5);
    expect(records.filter((r) => r.variant === 'champion')).toHaveLength(3);
    const text = (await call(server.url, '/metrics')).text;
    expect(metric(text, 'flywheel_serving_requests_total', { variant: 'shadow', model_version: '2', status: '200' })).toBe(3);
    // A request the shadow refuses (its signature is the same here, so send a bad one) fails once, for the caller.
    const bad = await call(server.url, '/invocations', { instances: [[1, 2]] });
    expect(bad.status).toBe(400);
  });

  it('refuses a challenger and a shadow together, and a weight outside 0–1', async () => {
    await expect(startServing({ modelUri: 'models:/churn/1', challengerUri: 'models:/churn/2', shadowUri: 'models:/churn/2', client: fw, port: 0, logLevel: 'silent' })).rejects.toThrow(/not both/);
    await expect(startServing({ modelUri: 'models:/churn/1', challengerUri: 'models:/churn/2', challengerWeight: 1.5, client: fw, port: 0, logLevel: 'silent' })).rejects.toThrow(/between 0 and 1/);
  });
});
