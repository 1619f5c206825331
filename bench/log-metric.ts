/** Single-point logging: sequential log-metric requests from one client on one keep-alive connection. */
import { BenchClient, experimentName } from './client.js';
import { withBenchServer } from './bench-server.js';
import { percentile, progress, report, round } from './stats.js';

const WARMUP = 1000;
const REQUESTS = 10_000;

export async function run(): Promise<void> {
  await withBenchServer(async ({ url }) => {
    const client = new BenchClient(url);
    const runId = await client.createRun(await client.createExperiment(experimentName('log-metric')));
    const t0 = Date.now();
    const logMetric = (step: number) =>
      client.post('/api/2.0/mlflow/runs/log-metric', { run_id: runId, key: 'loss', value: 1 / (step + 1), timestamp: t0 + step, step });

    progress(`warming up (${WARMUP} requests)`);
    for (let step = 0; step < WARMUP; step++) await logMetric(step);

    const latencies: number[] = [];
    const start = performance.now();
    for (let step = WARMUP; step < WARMUP + REQUESTS; step++) {
      const t = performance.now();
      await logMetric(step);
      latencies.push(performance.now() - t);
    }
    const seconds = (performance.now() - start) / 1000;
    client.close();
    report({
      bench: 'log-metric',
      requests: REQUESTS,
      connections: 1,
      req_per_s: Math.round(REQUESTS / seconds),
      p50_ms: percentile(latencies, 50),
      p99_ms: percentile(latencies, 99),
      max_ms: round(Math.max(...latencies)),
      target_req_per_s: 1500,
      target_p50_ms: 1,
    });
  });
}
