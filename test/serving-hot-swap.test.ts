import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flywheel } from '../src/index.js';
import type { DeploymentReporter } from '../src/serving/contracts.js';
import { startServing, type ServingServer } from '../src/serving/index.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { call, metric, probability, registerBroken, registerLogistic, type Logistic } from './helpers/serving-models.js';

/** Waits until `check` holds, polling; fails after `ms` (a guard against hanging, not a timing assertion). */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('inference server: hot swap when the alias moves (registry behind a Flywheel server)', () => {
  const versions: Record<string, Logistic> = {
    '1': { coefficients: [2, 0, 0], intercept: 0 },
    '2': { coefficients: [-2, 0, 0], intercept: 1 },
    '3': { coefficients: [0, 3, 0], intercept: -1 },
  };
  const row = [0.5, 0.25, 1];
  const expectedP = (v: string) => probability(versions[v], row);
  let registry: TestServer;
  let fw: Flywheel;
  let server: ServingServer;
  let scratch: string;
  const updates: unknown[] = [];

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'flywheel-serving-swap-'));
    registry = await startTestServer();
    fw = await Flywheel.connect({ trackingUri: registry.url, maxRetries: 0 });
    for (const v of ['1', '2', '3']) expect(await registerLogistic(fw, 'fraud', versions[v])).toBe(v);
    await fw.setAlias('fraud', 'champion', 1);
    const reporter: DeploymentReporter = {
      start: async () => undefined,
      update: async (change) => void updates.push(change),
      stop: async () => undefined,
    };
    server = await startServing({ modelUri: 'models:/fraud@champion', trackingUri: registry.url, port: 0, logLevel: 'silent', pollIntervalMs: 25, reporter });
  });
  afterAll(async () => {
    await server?.close();
    await fw?.close();
    await registry?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('follows two alias moves under constant traffic with zero failed requests', async () => {
    expect(server.model.identity).toMatchObject({ name: 'fraud', version: '1' });
    let stop = false;
    const failures: string[] = [];
    const seen: string[] = [];
    const loop = async (k: number) => {
      let i = 0;
      while (!stop) {
        i++;
        const v2 = (k + i) % 2 === 0;
        const res = v2
          ? await call(server.url, '/v2/models/fraud/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: row }] })
          : await call(server.url, '/invocations', { dataframe_split: { columns: ['a', 'b', 'c'], data: [row] } });
        if (res.status !== 200) {
          failures.push(`${res.status} ${res.text}`);
          continue;
        }
        const p = v2 ? res.json.outputs[1].data[1] : res.json.predictions[0].probabilities[1];
        // Each answer is exactly one version's prediction (and, on v2, the version it names).
        const match = Object.keys(versions).find((v) => Math.abs(expectedP(v) - p) < 1e-5);
        if (!match) failures.push(`prediction ${p} is no version's`);
        else if (v2 && res.json.model_version !== match) failures.push(`v2 says version ${res.json.model_version} but predicted as ${match}`);
        else if (res.headers.get('x-flywheel-model-version') !== match) failures.push(`header says ${res.headers.get('x-flywheel-model-version')} but predicted as ${match}`);
        else if (seen[seen.length - 1] !== match) seen.push(match);
      }
    };
    const loops = [0, 1, 2, 3].map(loop);
    try {
      await until(() => seen.length > 0, 'traffic on version 1');
      await fw.setAlias('fraud', 'champion', 2);
      await until(() => server.model.identity.version === '2', 'the swap to version 2');
      await fw.setAlias('fraud', 'champion', 3);
      await until(() => server.model.identity.version === '3', 'the swap to version 3');
      await until(async () => Math.abs((await call(server.url, '/invocations', { instances: [row] })).json.predictions[0].probabilities[1] - expectedP('3')) < 1e-6, 'answers from version 3');
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    expect(failures).toEqual([]);
    // Answers moved forward only: 1, then 2, then 3 (per loop order they may interleave at a switch).
    expect(new Set(seen)).toEqual(new Set(['1', '2', '3']));
    const after = await call(server.url, '/invocations', { instances: [row] });
    expect(after.json.predictions[0].probabilities[1]).toBeCloseTo(expectedP('3'), 5);

    const text = (await call(server.url, '/metrics')).text;
    for (const v of ['1', '2', '3']) {
      expect(metric(text, 'flywheel_serving_requests_total', { endpoint: '/invocations', status: '200', model_version: v }), `version ${v}`).toBeGreaterThan(0);
    }
    expect(metric(text, 'flywheel_serving_model_swaps_total')).toBe(2);
    expect(metric(text, 'flywheel_serving_model_info', { model_version: '3' })).toBe(1);
    expect(metric(text, 'flywheel_serving_model_info', { model_version: '1' })).toBe(0);
    expect(metric(text, 'flywheel_serving_model_load_seconds', { model_version: '2' })).toBeGreaterThan(0);
    expect(updates).toEqual([{ modelVersion: '2' }, { modelVersion: '3' }]);
  });

  it('keeps serving the last good model when the new version fails to load, and retries', async () => {
    const broken = await registerBroken(fw, 'fraud', scratch);
    await fw.setAlias('fraud', 'champion', broken);
    expect(await server.checkNow()).toBe('failed');
    expect(await server.checkNow()).toBe('failed'); // retried at every check
    expect(server.model.identity.version).toBe('3');
    const res = await call(server.url, '/invocations', { instances: [row] });
    expect(res.status).toBe(200);
    expect(res.json.predictions[0].probabilities[1]).toBeCloseTo(expectedP('3'), 5);
    const text = (await call(server.url, '/metrics')).text;
    expect(metric(text, 'flywheel_serving_model_load_failures_total', { stage: 'swap' })).toBeGreaterThanOrEqual(2);
    // Pointing the alias at a good version again recovers.
    await fw.setAlias('fraud', 'champion', 1);
    await until(() => server.model.identity.version === '1', 'the swap back to version 1');
  });

  it('keeps serving when the registry is down', async () => {
    await registry.close();
    expect(await server.checkNow()).toBe('failed');
    expect(server.model.identity.version).toBe('1');
    const res = await call(server.url, '/v2/models/fraud/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: row }] });
    expect(res.status).toBe(200);
    expect(res.json.model_version).toBe('1');
    expect(res.json.outputs[1].data[1]).toBeCloseTo(expectedP('1'), 5);
    const text = (await call(server.url, '/metrics')).text;
    expect(metric(text, 'flywheel_serving_registry_poll_errors_total')).toBeGreaterThan(0);
    expect((await call(server.url, '/ping')).status).toBe(200);
  });
});
