/**
 * Chart data: what the MLflow UI asks for when it draws one metric's chart for several runs —
 * get-history-bulk-interval over 10 runs of 10,000 points each, sampled to at most 2,500 steps.
 */
import { BenchClient, experimentName, logHistory } from './client.js';
import { withBenchServer } from './bench-server.js';
import { percentile, progress, report, timeRepeated } from './stats.js';

const RUNS = 10;
const POINTS_PER_RUN = 10_000;
const MAX_RESULTS = 2500;
const SAMPLES = 50;

export async function run(): Promise<void> {
  await withBenchServer(async ({ url }) => {
    const client = new BenchClient(url);
    const experimentId = await client.createExperiment(experimentName('bulk-interval'));
    progress(`logging ${RUNS} runs × ${POINTS_PER_RUN} points`);
    const runIds: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const runId = await client.createRun(experimentId, `run-${i}`);
      await logHistory(client, runId, 'loss', POINTS_PER_RUN);
      runIds.push(runId);
    }

    let returned = 0;
    const query = { run_ids: runIds, metric_key: 'loss', max_results: MAX_RESULTS };
    const fetchChart = async () => {
      const res = await client.get('/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval', query);
      returned = res.metrics?.length ?? 0;
    };
    const times = await timeRepeated(fetchChart, SAMPLES, 5);
    client.close();
    report({
      bench: 'bulk-interval',
      runs: RUNS,
      points_per_run: POINTS_PER_RUN,
      max_results: MAX_RESULTS,
      returned,
      samples: SAMPLES,
      p50_ms: percentile(times, 50),
      p99_ms: percentile(times, 99),
      target_ms: 20,
    });
  });
}
