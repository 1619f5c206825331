/**
 * History: the full history of one 100,000-point metric, read as MLflow's Python client does (max_results
 * 25,000 and following next_page_token until it is absent). One sample = all pages.
 */
import { BenchClient, experimentName, logHistory } from './client.js';
import { withBenchServer } from './bench-server.js';
import { percentile, progress, report, timeRepeated } from './stats.js';

const POINTS = 100_000;
const PAGE = 25_000;
const SAMPLES = 9;

export async function run(): Promise<void> {
  await withBenchServer(async ({ url }) => {
    const client = new BenchClient(url);
    const runId = await client.createRun(await client.createExperiment(experimentName('get-history')));
    progress(`logging ${POINTS} points`);
    await logHistory(client, runId, 'loss', POINTS);

    let points = 0;
    let pages = 0;
    const readHistory = async () => {
      points = pages = 0;
      let pageToken: string | undefined;
      do {
        const query: Record<string, string | number> = { run_id: runId, metric_key: 'loss', max_results: PAGE };
        if (pageToken) query.page_token = pageToken;
        const res = await client.get('/api/2.0/mlflow/metrics/get-history', query);
        points += res.metrics?.length ?? 0;
        pages++;
        pageToken = res.next_page_token;
      } while (pageToken);
    };
    const times = await timeRepeated(readHistory, SAMPLES, 2);
    client.close();
    if (points !== POINTS) throw new Error(`get-history returned ${points} points, expected ${POINTS}`);
    report({ bench: 'get-history', points, page_size: PAGE, pages, samples: SAMPLES, ms: percentile(times, 50), max_ms: percentile(times, 100), target_ms: 150 });
  });
}
