import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './helpers/stores.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe.each(DIALECTS)('100 clients logging to one run at once on %s', (dialect) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(dialect);
  });
  afterAll(() => s.close());

  it('loses nothing and never reports a locked database', async () => {
    const runId = (await s.call('POST', 'runs/create', { experiment_id: '0' })).json.run.info.run_id;
    const clients = 100;
    const perClient = 10;
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; i < perClient; i++) {
          const step = c * perClient + i;
          const calls = [
            s.call('POST', 'runs/log-metric', { run_id: runId, key: 'shared', value: step, timestamp: 1000 + step, step }),
            s.call('POST', 'runs/log-batch', {
              run_id: runId,
              metrics: [{ key: `client_${c}`, value: i, timestamp: 1000 + i, step: i }],
              tags: [{ key: 'last_writer', value: String(c) }],
            }),
          ];
          if (i === 0) calls.push(s.call('POST', 'runs/log-parameter', { run_id: runId, key: `p${c}`, value: String(c) }));
          for (const r of await Promise.all(calls)) if (r.status !== 200) failures.push(`${r.status} ${r.text}`);
        }
      }),
    );
    expect(failures).toEqual([]);
    const shared = await s.call('GET', 'metrics/get-history', { run_id: runId, metric_key: 'shared' });
    expect(shared.json.metrics).toHaveLength(clients * perClient);
    expect(new Set(shared.json.metrics.map((m: any) => m.step)).size).toBe(clients * perClient);
    const run = (await s.call('GET', 'runs/get', { run_id: runId })).json.run;
    expect(run.data.params).toHaveLength(clients);
    const latest = Object.fromEntries(run.data.metrics.map((m: any) => [m.key, m]));
    expect(latest.shared.step).toBe(clients * perClient - 1);
    for (let c = 0; c < clients; c++) expect(latest[`client_${c}`].step).toBe(perClient - 1);
  });
});
