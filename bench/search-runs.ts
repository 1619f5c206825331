/**
 * Search: one experiment of N runs (2,000, then 100,000), each with params model ∈ {a…j} and lr, metrics acc
 * and loss, and tags; a filter on a metric and a param, ordered by a metric, as the runs table in the UI asks.
 * The runs are written straight into the store in large transactions (100,000 runs through HTTP would take
 * minutes); the queries go over HTTP.
 */
import { randomUUID } from 'node:crypto';
import type { Insertable } from 'kysely';
import { openStore, type KeyValueTable, type LatestMetricTable, type RunTable } from '../src/store/index.js';
import { BenchClient, experimentName } from './client.js';
import { withBenchServer } from './bench-server.js';
import { percentile, progress, report, timeRepeated } from './stats.js';

const SIZES = [2000, 100_000];
const MAX_RESULTS = [100, 1000];
const FILTER = "metrics.acc > 0.5 and params.model = 'a'";
const ORDER_BY = ['metrics.acc DESC'];
const MODELS = 'abcdefghij'.split('');
const LEARNING_RATES = ['0.1', '0.03', '0.01', '0.003', '0.001'];
const ROWS_PER_INSERT = 1000; // well under SQLite's and PostgreSQL's bound-parameter limits
const RUNS_PER_TRANSACTION = 10_000;

/** A small seeded generator, so every run of the benchmark searches the same data. */
function seededRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function insertRuns(storeUri: string, experimentId: string, artifactLocation: string, count: number): Promise<void> {
  const store = openStore(storeUri);
  const random = seededRandom(count);
  const t0 = Date.now() - count * 1000;
  const chunks = <T>(rows: T[]) => Array.from({ length: Math.ceil(rows.length / ROWS_PER_INSERT) }, (_, i) => rows.slice(i * ROWS_PER_INSERT, (i + 1) * ROWS_PER_INSERT));
  try {
    for (let first = 0; first < count; first += RUNS_PER_TRANSACTION) {
      const runs: Insertable<RunTable>[] = [];
      const params: Insertable<KeyValueTable>[] = [];
      const tags: Insertable<KeyValueTable>[] = [];
      const metrics: Insertable<LatestMetricTable>[] = [];
      for (let i = first; i < Math.min(count, first + RUNS_PER_TRANSACTION); i++) {
        const run_uuid = randomUUID().replaceAll('-', '');
        const name = `run-${i}`;
        const start_time = t0 + i * 1000;
        runs.push({
          run_uuid, name, experiment_id: Number(experimentId), user_id: 'bench', status: 'FINISHED', start_time,
          end_time: start_time + 900, deleted_time: null, lifecycle_stage: 'active', artifact_uri: `${artifactLocation}/${run_uuid}/artifacts`,
        });
        params.push({ run_uuid, key: 'model', value: MODELS[Math.floor(random() * MODELS.length)] });
        params.push({ run_uuid, key: 'lr', value: LEARNING_RATES[Math.floor(random() * LEARNING_RATES.length)] });
        tags.push({ run_uuid, key: 'mlflow.runName', value: name });
        tags.push({ run_uuid, key: 'mlflow.user', value: 'bench' });
        tags.push({ run_uuid, key: 'team', value: random() < 0.5 ? 'vision' : 'nlp' });
        for (const key of ['acc', 'loss']) metrics.push({ run_uuid, key, value: random(), is_nan: 0, timestamp: start_time + 900, step: 10 });
      }
      await store.db.transaction().execute(async (tx) => {
        const runKeys = new Map<string, number>();
        for (const rows of chunks(runs)) {
          for (const r of await tx.insertInto('runs').values(rows).returning(['run_uuid', 'run_key']).execute()) runKeys.set(r.run_uuid, r.run_key);
        }
        for (const rows of chunks(params)) await tx.insertInto('params').values(rows).execute();
        for (const rows of chunks(tags)) await tx.insertInto('tags').values(rows).execute();
        // One point per metric, so the history and the latest value are the same row.
        const history = metrics.map(({ run_uuid, ...m }) => ({ ...m, run_key: runKeys.get(run_uuid)! }));
        for (const rows of chunks(history)) await tx.insertInto('metrics').values(rows).execute();
        for (const rows of chunks(metrics)) await tx.insertInto('latest_metrics').values(rows).execute();
      });
      progress(`${Math.min(count, first + RUNS_PER_TRANSACTION)} / ${count} runs`);
    }
  } finally {
    await store.close();
  }
}

export async function run(): Promise<void> {
  await withBenchServer(async ({ url, storeUri }) => {
    const client = new BenchClient(url);
    for (const runs of SIZES) {
      const experimentId = await client.createExperiment(experimentName(`search-${runs}`));
      const { experiment } = await client.get('/api/2.0/mlflow/experiments/get', { experiment_id: experimentId });
      progress(`setting up ${runs} runs`);
      const setupStart = performance.now();
      await insertRuns(storeUri, experimentId, experiment.artifact_location, runs);
      progress(`set up in ${((performance.now() - setupStart) / 1000).toFixed(1)} s`);

      for (const maxResults of MAX_RESULTS) {
        const body = JSON.stringify({ experiment_ids: [experimentId], filter: FILTER, order_by: ORDER_BY, max_results: maxResults });
        let returned = 0;
        const search = async () => {
          const res = await client.post('/api/2.0/mlflow/runs/search', body);
          returned = res.runs?.length ?? 0;
        };
        const samples = runs > 10_000 ? 20 : 50;
        const times = await timeRepeated(search, samples, 5);
        report({
          bench: 'search-runs',
          runs,
          max_results: maxResults,
          filter: FILTER,
          order_by: ORDER_BY,
          returned,
          samples,
          p50_ms: percentile(times, 50),
          p99_ms: percentile(times, 99),
          target_ms: runs <= 2000 ? 10 : 50,
        });
      }
    }
    client.close();
  });
}
