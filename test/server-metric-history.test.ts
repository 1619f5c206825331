import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './helpers/stores.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** metrics/get-history as clients read it: exact values, MLflow's encoding, paging with the token. */
describe.each(DIALECTS)('metric history over HTTP on %s', (dialect) => {
  let s: TestServer;
  let runId: string;
  const values = [0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308, -2.5, 100, NaN, Infinity, -Infinity, 123456789.12345679, 0, 42];
  beforeAll(async () => {
    s = await startTestServer(dialect);
    runId = (await s.call('POST', 'runs/create', { experiment_id: '0' })).json.run.info.run_id;
    const wire = (v: number) => (Number.isFinite(v) ? v : String(v));
    // logged out of order, in two requests
    const points = values.map((v, i) => ({ key: 'm', value: wire(v), timestamp: 1000 + i, step: i }));
    const shuffled = [...points.slice(6).reverse(), ...points.slice(0, 6).reverse()];
    expect((await s.call('POST', 'runs/log-batch', { run_id: runId, metrics: shuffled.slice(0, 5) })).status).toBe(200);
    expect((await s.call('POST', 'runs/log-batch', { run_id: runId, metrics: shuffled.slice(5) })).status).toBe(200);
  });
  afterAll(() => s.close());

  const decode = (v: number | string) => (typeof v === 'string' ? Number(v) : v);

  it('returns every point in step order, values exact, non-finite values as strings', async () => {
    const res = await s.call('GET', 'metrics/get-history', { run_id: runId, metric_key: 'm' });
    expect(res.json.next_page_token).toBeUndefined();
    expect(res.json.metrics.map((m: any) => m.step)).toEqual(values.map((_, i) => i));
    expect(res.json.metrics.map((m: any) => decode(m.value))).toEqual(values);
    expect(res.json.metrics.filter((m: any) => typeof m.value === 'string').map((m: any) => m.value)).toEqual(['NaN', 'Infinity', '-Infinity']);
    expect(res.json.metrics[1]).toEqual({ key: 'm', value: 1 / 3, timestamp: 1001, step: 1 });
  });

  it('pages with max_results and next_page_token, ending without a token', async () => {
    const steps: number[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const res = await s.call('GET', 'metrics/get-history', { run_id: runId, metric_key: 'm', max_results: 4, ...(token ? { page_token: token } : {}) });
      steps.push(...res.json.metrics.map((m: any) => m.step));
      token = res.json.next_page_token;
      pages++;
    } while (token);
    expect(steps).toEqual(values.map((_, i) => i));
    expect(pages).toBe(3);
    const bad = await s.call('GET', 'metrics/get-history', { run_id: runId, metric_key: 'm', page_token: 'not-a-token' });
    expect(bad.status).toBe(400);
    expect((await s.call('GET', 'metrics/get-history', { run_id: '0'.repeat(32), metric_key: 'm' })).status).toBe(404);
    expect((await s.call('GET', 'metrics/get-history', { run_id: runId, metric_key: 'm', max_results: 0 })).status).toBe(400);
  });
});
