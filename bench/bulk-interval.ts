/**
 * Chart data: get-history-bulk-interval, sampled to at most 2,500 steps (the endpoint's default and maximum).
 * The headline case is the 100,000-point metric of the get-history benchmark (one run), so the two numbers
 * compare; the second case is what the MLflow UI asks for to draw one chart for several runs (10 runs of
 * 10,000 points each, 25,000 points returned).
 */
import { BenchClient, experimentName, logHistory } from './client.js';
import { withBenchServer } from './bench-server.js';
import { percentile, progress, report, timeRepeated } from './stats.js';

const CASES = [
  { runs: 1, pointsPerRun: 100_000 },
  { runs: 10, pointsPerRun: 10_000 },
];
const MAX_RESULTS = 2500;
const SAMPLES = 50;

export async function run(): Promise<void> {
  await withBenchServer(async ({ url }) => {
    const client = new BenchClient(url);
    for (const { runs, pointsPerRun } of CASES) {
      const experimentId = await client.createExperiment(experimentName(`bulk-interval-${runs}`));
      progress(`logging ${runs} run(s) × ${pointsPerRun} points`);
      const runIds: string[] = [];
      for (let i = 0; i < runs; i++) {
        const runId = await client.createRun(experimentId, `run-${i}`);
        await logHistory(client, runId, 'loss', pointsPerRun);
        runIds.push(runId);
      }
      let returned = 0;
      const query = { run_ids: runIds, metric_key: 'loss', max_results: MAX_RESULTS };
      const fetchChart = async () => {
        const res = await client.get('/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval', query);
        returned = res.metrics?.length ?? 0;
      };
      const times = await timeRepeated(fetchChart, SAMPLES, 5);
      report({
        bench: 'bulk-interval',
        runs,
        points_per_run: pointsPerRun,
        max_results: MAX_RESULTS,
        returned,
        samples: SAMPLES,
        p50_ms: percentile(times, 50),
        p99_ms: percentile(times, 99),
        target_ms: 20,
      });
    }
    client.close();
  });
}
