import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from './helpers/stores.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** Each tracking endpoint over real HTTP, on every dialect: the request shapes MLflow clients send. */
describe.each(DIALECTS)('tracking endpoints over HTTP on %s', (dialect) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(dialect);
  });
  afterAll(() => s.close());

  it('experiments: create with tags, search by GET and POST with filter, order and paging, tag, rename, delete, restore', async () => {
    const ids: string[] = [];
    for (const name of ['exp-b', 'exp-a', 'other']) {
      ids.push((await s.call('POST', 'experiments/create', { name, tags: [{ key: 'team', value: name === 'other' ? 'x' : 'y' }] })).json.experiment_id);
    }
    const byPost = await s.call('POST', 'experiments/search', { max_results: 10, filter: "name LIKE 'exp-%' and tags.team = 'y'", order_by: ['name ASC'] });
    expect(byPost.json.experiments.map((e: any) => e.name)).toEqual(['exp-a', 'exp-b']);
    const byGet = await s.call('GET', 'experiments/search', { max_results: 1, filter: "name LIKE 'exp-%'", order_by: 'name DESC' });
    expect(byGet.json.experiments.map((e: any) => e.name)).toEqual(['exp-b']);
    const next = await s.call('GET', 'experiments/search', { max_results: 1, filter: "name LIKE 'exp-%'", order_by: 'name DESC', page_token: byGet.json.next_page_token });
    expect(next.json.experiments.map((e: any) => e.name)).toEqual(['exp-a']);
    expect(next.json.next_page_token).toBeUndefined();
    expect((await s.call('POST', 'experiments/search', { filter: 'attributes.name = "x"', max_results: 5 })).status).toBe(400);

    expect((await s.call('POST', 'experiments/set-experiment-tag', { experiment_id: ids[0], key: 'note', value: 'hi' })).status).toBe(200);
    expect((await s.call('POST', 'experiments/delete-experiment-tag', { experiment_id: ids[0], key: 'team' })).status).toBe(200);
    expect((await s.call('GET', 'experiments/get', { experiment_id: ids[0] })).json.experiment.tags).toEqual([{ key: 'note', value: 'hi' }]);
    expect((await s.call('POST', 'experiments/delete-experiment-tag', { experiment_id: ids[0], key: 'team' })).status).toBe(404);
    expect((await s.call('POST', 'experiments/update', { experiment_id: ids[0], new_name: 'exp-a' })).json.error_code).toBe('RESOURCE_ALREADY_EXISTS');
    expect((await s.call('POST', 'experiments/update', { experiment_id: ids[0], new_name: 'exp-c' })).status).toBe(200);
    expect((await s.call('POST', 'experiments/delete', { experiment_id: ids[0] })).status).toBe(200);
    const deleted = await s.call('POST', 'experiments/search', { max_results: 10, view_type: 'DELETED_ONLY' });
    expect(deleted.json.experiments.map((e: any) => e.name)).toEqual(['exp-c']);
    expect((await s.call('GET', 'experiments/get-by-name', { experiment_name: 'exp-c' })).json.experiment.lifecycle_stage).toBe('deleted');
    expect((await s.call('POST', 'experiments/update', { experiment_id: ids[0], new_name: 'z' })).status).toBe(500); // INVALID_STATE, as MLflow
    expect((await s.call('POST', 'experiments/restore', { experiment_id: ids[0] })).status).toBe(200);
    const legacy = await s.call('GET', 'experiments/list', {});
    expect(legacy.json.experiments.map((e: any) => e.name)).toEqual(expect.arrayContaining(['Default', 'exp-c', 'exp-a', 'other']));
  });

  it('runs: datasets in, models out, tags, delete and restore, search by dataset and view type', async () => {
    const exp = (await s.call('POST', 'experiments/create', { name: 'runs-ep' })).json.experiment_id;
    const run = (await s.call('POST', 'runs/create', { experiment_id: exp, run_name: 'r1', user_id: 'ana', start_time: 5 })).json.run;
    expect(run.info).toMatchObject({ run_name: 'r1', user_id: 'ana', start_time: 5, status: 'RUNNING', lifecycle_stage: 'active', experiment_id: exp });
    expect(run.info.end_time).toBeUndefined();
    const runId = run.info.run_id;
    const dataset = { name: 'train', digest: 'd1', source_type: 'local', source: '{"uri": "train.csv"}', schema: '{}', profile: '{"rows": 10}' };
    expect((await s.call('POST', 'runs/log-inputs', { run_id: runId, datasets: [{ dataset, tags: [{ key: 'mlflow.data.context', value: 'training' }] }] })).status).toBe(200);
    expect((await s.call('POST', 'runs/log-inputs', { run_id: runId, datasets: [{ tags: [] }] })).status).toBe(400);
    const got = (await s.call('GET', 'runs/get', { run_id: runId })).json.run;
    expect(got.inputs.dataset_inputs).toEqual([{ dataset, tags: [{ key: 'mlflow.data.context', value: 'training' }] }]);
    const summaries = await s.call('POST', '/ajax-api/2.0/mlflow/experiments/search-datasets', { experiment_ids: [exp] });
    expect(summaries.json.dataset_summaries).toEqual([{ experiment_id: exp, name: 'train', digest: 'd1', context: 'training' }]);
    const other = (await s.call('POST', 'runs/create', { experiment_id: exp })).json.run.info.run_id;
    const byDataset = await s.call('POST', 'runs/search', { experiment_ids: [exp], filter: "dataset.name = 'train' and dataset.context = 'training'" });
    expect(byDataset.json.runs.map((r: any) => r.info.run_id)).toEqual([runId]);

    expect((await s.call('POST', 'runs/set-tag', { run_id: runId, key: 'k', value: '' })).status).toBe(200);
    expect((await s.call('POST', 'runs/delete-tag', { run_id: runId, key: 'k' })).status).toBe(200);
    expect((await s.call('POST', 'runs/delete-tag', { run_id: runId, key: 'k' })).json.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect((await s.call('POST', 'runs/delete', { run_id: other })).status).toBe(200);
    const active = await s.call('POST', 'runs/search', { experiment_ids: [exp] });
    expect(active.json.runs.map((r: any) => r.info.run_id)).toEqual([runId]);
    const deleted = await s.call('POST', 'runs/search', { experiment_ids: [exp], run_view_type: 'DELETED_ONLY' });
    expect(deleted.json.runs.map((r: any) => r.info.run_id)).toEqual([other]);
    expect((await s.call('POST', 'runs/log-metric', { run_id: other, key: 'm', value: 1, timestamp: 1 })).status).toBe(400);
    expect((await s.call('POST', 'runs/restore', { run_id: other })).status).toBe(200);
    expect((await s.call('POST', 'runs/search', { experiment_ids: [exp], run_view_type: 'ALL' })).json.runs).toHaveLength(2);
    const ended = await s.call('POST', 'runs/update', { run_uuid: runId, status: 'FAILED', end_time: 99, run_name: 'renamed' });
    expect(ended.json.run_info).toMatchObject({ status: 'FAILED', end_time: 99, run_name: 'renamed' });
  });

  it('treats experiment ids beyond 32 bits as unknown, not as a database error', async () => {
    for (const id of ['2147483648', '99999999999']) {
      expect((await s.call('GET', 'experiments/get', { experiment_id: id })).status, id).toBe(404);
      expect((await s.call('POST', 'runs/create', { experiment_id: id })).status, id).toBe(404);
      expect((await s.call('POST', 'logged-models', { experiment_id: id })).status, id).toBe(404);
      expect((await s.call('POST', 'experiments/delete', { experiment_id: id })).status, id).toBe(404);
    }
    expect((await s.call('GET', 'experiments/get', { experiment_id: '2147483647' })).status).toBe(404);
  });

  it('metric history in bulk: ajax get-history-bulk and get-history-bulk-interval', async () => {
    const runs: string[] = [];
    for (let r = 0; r < 3; r++) {
      const id = (await s.call('POST', 'runs/create', { experiment_id: '0' })).json.run.info.run_id;
      const metrics = Array.from({ length: 50 }, (_, i) => ({ key: 'loss', value: r + i / 100, timestamp: 1000 + i, step: i * 2 }));
      expect((await s.call('POST', 'runs/log-batch', { run_id: id, metrics })).status).toBe(200);
      runs.push(id);
    }
    const bulk = await s.call('GET', '/ajax-api/2.0/mlflow/metrics/get-history-bulk', { run_id: runs, metric_key: 'loss' });
    expect(bulk.json.metrics).toHaveLength(150);
    expect(bulk.json.metrics[0]).toEqual({ key: 'loss', value: 0, timestamp: 1000, step: 0, run_id: runs[0] });
    expect((await s.call('GET', '/ajax-api/2.0/mlflow/metrics/get-history-bulk', { run_id: runs, metric_key: 'loss', max_results: 60 })).json.metrics).toHaveLength(60);
    expect((await s.call('GET', '/api/2.0/mlflow/metrics/get-history-bulk', { run_id: runs, metric_key: 'loss' })).status).toBe(404);

    const sampled = await s.call('GET', 'metrics/get-history-bulk-interval', { run_ids: runs, metric_key: 'loss', max_results: 5 });
    for (const id of runs) {
      expect(sampled.json.metrics.filter((m: any) => m.run_id === id).map((m: any) => m.step)).toEqual([0, 26, 50, 74, 98]);
    }
    const window = await s.call('GET', 'metrics/get-history-bulk-interval', { run_ids: [runs[1]], metric_key: 'loss', start_step: 10, end_step: 20 });
    expect(window.json.metrics.map((m: any) => m.step)).toEqual([10, 12, 14, 16, 18, 20]);
    expect((await s.call('GET', 'metrics/get-history-bulk-interval', { run_ids: runs, metric_key: 'loss', max_results: 2501 })).status).toBe(400);
    expect((await s.call('GET', 'metrics/get-history-bulk-interval', { run_ids: runs, metric_key: 'absent' })).text).toBe('{}');
  });
});
