/**
 * History: the full history of one 100,000-point metric, read two ways: as MLflow's Python client does
 * (max_results 25,000, following next_page_token until it is absent; one sample = all pages), and in one
 * request without max_results (what MLflow 2.17's server always answered, and the npm client asks).
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
    if (points !== POINTS) throw new Error(`get-history returned ${points} points, expected ${POINTS}`);
    report({ bench: 'get-history', points, page_size: PAGE, pages, samples: SAMPLES, ms: percentile(times, 50), max_ms: percentile(times, 100), target_ms: 150 });

    let single = 0;
    const readAtOnce = async () => {
      const res = await client.get('/api/2.0/mlflow/metrics/get-history', { run_id: runId, metric_key: 'loss' });
      single = res.metrics?.length ?? 0;
    };
    const once = await timeRepeated(readAtOnce, SAMPLES, 2);
    client.close();
    if (single !== POINTS) throw new Error(`get-history returned ${single} points in one request, expected ${POINTS}`);
    report({ bench: 'get-history', points: single, page_size: 'all', pages: 1, samples: SAMPLES, ms: percentile(once, 50), max_ms: percentile(once, 100), target_ms: 150 });
  });
}
