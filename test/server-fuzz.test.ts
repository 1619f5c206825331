import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from './helpers/prng.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Random and mistyped requests to every tracking endpoint: each gets an answer in MLflow's error shape, never a
 * 500 for a client mistake (INVALID_STATE, which MLflow answers with 500, is the one allowed), and the server
 * keeps serving. A seeded generator makes failures reproducible (FLYWHEEL_FUZZ_SEED).
 */
const ENDPOINTS: [string, string][] = [
  ['POST', 'experiments/create'], ['GET', 'experiments/get'], ['GET', 'experiments/get-by-name'], ['POST', 'experiments/search'],
  ['GET', 'experiments/search'], ['POST', 'experiments/update'], ['POST', 'experiments/delete'], ['POST', 'experiments/restore'],
  ['POST', 'experiments/set-experiment-tag'], ['POST', 'experiments/delete-experiment-tag'], ['GET', 'experiments/list'],
  ['POST', '/ajax-api/2.0/mlflow/experiments/search-datasets'],
  ['POST', 'runs/create'], ['POST', 'runs/update'], ['POST', 'runs/delete'], ['POST', 'runs/restore'], ['GET', 'runs/get'],
  ['POST', 'runs/search'], ['POST', 'runs/log-metric'], ['POST', 'runs/log-parameter'], ['POST', 'runs/set-tag'],
  ['POST', 'runs/delete-tag'], ['POST', 'runs/log-batch'], ['POST', 'runs/log-inputs'], ['POST', 'runs/outputs'],
  ['POST', 'runs/log-model'], ['GET', 'metrics/get-history'], ['GET', 'metrics/get-history-bulk-interval'],
  ['GET', '/ajax-api/2.0/mlflow/metrics/get-history-bulk'], ['GET', 'artifacts/list'],
  ['POST', 'logged-models'], ['POST', 'logged-models/search'], ['GET', 'logged-models/m-0'], ['PATCH', 'logged-models/m-0'],
  ['DELETE', 'logged-models/m-0'], ['PATCH', 'logged-models/m-0/tags'], ['POST', 'logged-models/m-0/params'],
  ['GET', 'logged-models/m-0/artifacts/directories'],
];
const FIELDS = [
  'name', 'experiment_id', 'experiment_ids', 'experiment_name', 'run_id', 'run_uuid', 'run_ids', 'key', 'value', 'timestamp',
  'step', 'metrics', 'params', 'tags', 'filter', 'order_by', 'max_results', 'page_token', 'view_type', 'run_view_type',
  'status', 'end_time', 'start_time', 'run_name', 'new_name', 'artifact_location', 'metric_key', 'start_step', 'end_step',
  'datasets', 'models', 'model_json', 'path', 'source_run_id', 'artifact_directory_path', 'user_id',
];

describe('fuzzing the tracking endpoints', () => {
  let s: TestServer;
  let runId: string;
  let expId: string;
  beforeAll(async () => {
    s = await startTestServer();
    expId = (await s.call('POST', 'experiments/create', { name: 'fuzz' })).json.experiment_id;
    runId = (await s.call('POST', 'runs/create', { experiment_id: expId })).json.run.info.run_id;
  });
  afterAll(() => s.close());

  it('answers every random request with a client error or success, never a crash', async () => {
    const seed = Number(process.env.FLYWHEEL_FUZZ_SEED ?? 20261128);
    const rand = mulberry32(seed);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
    const value = (depth = 0): unknown => {
      const r = rand();
      if (r < 0.1) return null;
      if (r < 0.2) return pick([0, -1, 1.5, 2 ** 63, -(2 ** 53) - 10, 1e308, 50001]);
      if (r < 0.3) return pick(['', 'x', 'NaN', 'Infinity', '1', 'abc', '../../etc/passwd', "'; drop table runs; --", 'a'.repeat(10000), '\u0000', 'm-0']);
      if (r < 0.4) return pick([true, false]);
      if (r < 0.5) return runId;
      if (r < 0.6) return expId;
      if (r < 0.8 && depth < 3) return Array.from({ length: Math.floor(rand() * 3) }, () => value(depth + 1));
      if (depth < 3) return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, () => [pick([...FIELDS, 'key', 'value', 'dataset']), value(depth + 1)]));
      return 'leaf';
    };
    const failures: string[] = [];
    for (let i = 0; i < 1500; i++) {
      const [method, path] = pick(ENDPOINTS);
      const params: Record<string, unknown> = {};
      for (let f = Math.floor(rand() * 5); f > 0; f--) params[pick(FIELDS)] = value();
      const getParams = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, typeof v === 'object' && v !== null ? JSON.stringify(v) : v]));
      const res = await s.call(method, path, method === 'GET' ? getParams : params);
      const allowed = res.status < 500 || (res.status === 500 && res.json?.error_code === 'INVALID_STATE');
      if (!allowed) failures.push(`${method} ${path} ${JSON.stringify(params).slice(0, 300)} → ${res.status} ${res.text.slice(0, 200)}`);
      else if (res.status >= 400) {
        if (typeof res.json?.error_code !== 'string' || typeof res.json?.message !== 'string') {
          failures.push(`${method} ${path} → ${res.status} without MLflow error JSON: ${res.text.slice(0, 200)}`);
        }
      }
    }
    expect(failures.slice(0, 10)).toEqual([]);
    expect((await s.call('GET', 'runs/get', { run_id: runId })).status).toBe(200);
  });
});
