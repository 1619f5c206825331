/** Ingest: one run, 100,000 points sent as 100 log-batch requests of 1,000, one after another. */
import { BenchClient, experimentName, type MetricPoint } from './client.js';
import { withBenchServer } from './bench-server.js';
import { progress, report, round } from './stats.js';

const POINTS = 100_000;
const BATCH = 1000;
const KEYS = 10; // a training loop logging 10 metrics per step: 100 steps per batch

/** Request bodies built before the clock starts: the benchmark measures the server, not JSON.stringify. */
function batchBodies(runId: string, points: number, t0: number): string[] {
  const bodies: string[] = [];
  for (let start = 0; start < points; start += BATCH) {
    const metrics: MetricPoint[] = [];
    for (let i = start; i < start + BATCH; i++) {
      const step = Math.floor(i / KEYS);
      metrics.push({ key: `metric_${i % KEYS}`, value: Math.random(), timestamp: t0 + step, step });
    }
    bodies.push(JSON.stringify({ run_id: runId, metrics }));
  }
  return bodies;
}

export async function run(): Promise<void> {
  await withBenchServer(async ({ url }) => {
    const client = new BenchClient(url);
    const experimentId = await client.createExperiment(experimentName('log-batch'));
    progress('warming up (20,000 points into another run)');
    const warmupRun = await client.createRun(experimentId, 'warmup');
    for (const body of batchBodies(warmupRun, 20_000, Date.now())) await client.post('/api/2.0/mlflow/runs/log-batch', body);

    const runId = await client.createRun(experimentId, 'ingest');
    const bodies = batchBodies(runId, POINTS, Date.now());
    const latencies: number[] = [];
    const start = performance.now();
    for (const body of bodies) {
      const t = performance.now();
      await client.post('/api/2.0/mlflow/runs/log-batch', body);
      latencies.push(performance.now() - t);
    }
    const seconds = (performance.now() - start) / 1000;
    client.close();
    latencies.sort((a, b) => a - b);
    report({
      bench: 'log-batch',
      points: POINTS,
      batch: BATCH,
      keys: KEYS,
      seconds: round(seconds),
      points_per_s: Math.round(POINTS / seconds),
      batch_p50_ms: round(latencies[Math.floor(latencies.length / 2)]),
      batch_max_ms: round(latencies[latencies.length - 1]),
      target_points_per_s: 200_000,
    });
  });
}
