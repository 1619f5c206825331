import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import mlflowPackage from 'mlflow';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * A real MLflow client (the npm `mlflow` package) against a Flywheel server, unchanged; then the exact call
 * sequences the Python client makes for a run with a logged model (reference §7), for MLflow 2.x and 3.x.
 */
// a CommonJS package: its default export arrives wrapped
const MLflow = ((mlflowPackage as any).default ?? mlflowPackage) as typeof import('mlflow/lib/mlflow.js').default;

describe('MLflow clients against flywheel server', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
    vi.spyOn(console, 'log').mockImplementation(() => {}); // the npm client logs every request body
  });
  afterAll(() => s.close());

  it('works with the npm mlflow client', async () => {
    const client = new MLflow({ endpoint: s.url });
    const { experiment_id } = await client.Experiments.create({ name: 'npm-client', artifact_location: undefined as any });
    const { experiments } = await client.Experiments.list();
    expect(experiments.map((e: any) => e.name)).toContain('npm-client');
    const { run } = await client.Runs.create({ experiment_id, user_id: 'ana', start_time: Date.now() });
    const run_id = run.info.run_id ?? (run.info as any).run_uuid;
    await client.Runs.logParameter({ run_id, key: 'lr', value: '0.1' });
    await client.Runs.setTag({ run_id, key: 'team', value: 'fraud' });
    for (let step = 0; step < 5; step++) await client.Runs.logMetric({ run_id, key: 'loss', value: 1 / (step + 1), timestamp: Date.now(), step });
    await client.Runs.logBatch({
      run_id,
      metrics: [{ key: 'acc', value: 0.9, timestamp: Date.now(), step: 0 }],
      params: [{ key: 'depth', value: '3' }],
      tags: [{ key: 'stage', value: 'dev' }],
    } as any);
    const history = await client.Metrics.getHistory({ run_id, metric_key: 'loss' });
    expect(history.metrics.map((m: any) => m.step)).toEqual([0, 1, 2, 3, 4]);
    const got = (await client.Runs.get({ run_id })).run;
    expect(got.data.params).toEqual(expect.arrayContaining([{ key: 'lr', value: '0.1' }, { key: 'depth', value: '3' }]));
    expect(got.info.user_id).toBe('ana');
    const found = await client.Runs.search({ experiment_ids: [experiment_id], filter: "params.lr = '0.1' and metrics.acc > 0.5" } as any);
    expect(found.runs.map((r: any) => r.info.run_id)).toEqual([run_id]);
    await client.Runs.update({ run_id, status: 'FINISHED', end_time: Date.now() } as any);
    expect((await client.Runs.get({ run_id })).run.info.status).toBe('FINISHED');
    await client.Runs.deleteTag({ run_id, key: 'team' });
    await client.Runs.delete({ run_id });
    await client.Runs.restore({ run_id });
    expect(await client.Artifacts.list({ run_id, path: '' } as any)).toMatchObject({ root_uri: expect.stringContaining(run_id) });
    await client.Experiments.update({ experiment_id, new_name: 'npm-client-2' });
    expect((await client.Experiments.get({ experiment_id })).experiment.name).toBe('npm-client-2');
    await client.Experiments.delete({ experiment_id });
    await client.Experiments.restore({ experiment_id });
    // errors come back as MLflow error JSON the client reports with its status
    await expect(client.Runs.get({ run_id: '0'.repeat(32) })).rejects.toThrow(/RESOURCE_DOES_NOT_EXIST/);
  });

  const put = (path: string, body: string) =>
    fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${path}`, s.url), { method: 'PUT', body, headers: { 'content-type': 'text/plain' } });

  it('replays the MLflow 3.x Python client: set_experiment, log_model, load_model, search_runs', async () => {
    expect((await s.call('GET', 'experiments/get-by-name', { experiment_name: 'flow' })).status).toBe(404);
    const exp = (await s.call('POST', 'experiments/create', { name: 'flow' })).json.experiment_id;
    expect((await s.call('GET', 'experiments/get', { experiment_id: exp })).status).toBe(200);
    const run = (await s.call('POST', 'runs/create', { experiment_id: exp, start_time: Date.now(), tags: [{ key: 'mlflow.user', value: 'ana' }] })).json.run.info.run_id;
    expect((await s.call('POST', 'runs/log-parameter', { run_id: run, key: 'alpha', value: '0.5' })).status).toBe(200);
    expect((await s.call('POST', 'runs/log-metric', { run_id: run, key: 'rmse', value: 0.7, timestamp: Date.now(), step: 1 })).status).toBe(200);
    expect((await s.call('GET', 'runs/get', { run_uuid: run, run_id: run })).status).toBe(200);
    const model = (await s.call('POST', 'logged-models', { experiment_id: exp, name: 'model', source_run_id: run, params: [{ key: 'alpha', value: '0.5' }] })).json.model;
    const modelId = model.info.model_id;
    expect(model.info.artifact_uri).toBe(`mlflow-artifacts:/${exp}/models/${modelId}/artifacts`);
    expect((await s.call('POST', 'runs/outputs', { run_id: run, models: [{ model_id: modelId, step: 0 }] })).status).toBe(200);
    expect((await s.call('GET', 'metrics/get-history', { run_id: run, metric_key: 'rmse', max_results: 25000 })).json.metrics).toHaveLength(1);
    expect((await s.call('GET', `logged-models/${modelId}`)).json.model.info.status).toBe('LOGGED_MODEL_PENDING');
    const files = { MLmodel: `artifact_path: mlflow-artifacts:/${exp}/models/${modelId}/artifacts\nmodel_id: ${modelId}\n`, 'requirements.txt': 'mlflow\n', 'conda.yaml': 'name: x\n' };
    for (const [name, body] of Object.entries(files)) {
      expect((await put(`${exp}/models/${modelId}/artifacts/${name}`, body)).status).toBe(200);
    }
    const ready = await s.call('PATCH', `logged-models/${modelId}`, { status: 'LOGGED_MODEL_READY' });
    expect(ready.json.model.info.status).toBe('LOGGED_MODEL_READY');
    const tagged = await s.call('PATCH', `logged-models/${modelId}/tags`, { tags: [{ key: 'mlflow.modelVersions', value: '[]' }] });
    expect(tagged.json.model.info.tags).toContainEqual({ key: 'mlflow.modelVersions', value: '[]' });
    expect((await s.call('POST', 'runs/update', { run_id: run, status: 'FINISHED', end_time: Date.now() })).json.run_info.status).toBe('FINISHED');
    // downloading the run's artifacts: the 3.x client first asks for logged models named like the path
    const search = await s.call('POST', 'logged-models/search', { experiment_ids: [exp], filter: "name = 'model'" });
    expect(search.json.models.map((m: any) => m.info.model_id)).toEqual([modelId]);
    expect(search.json.models[0].info.source_run_id).toBe(run);
    const listing = await s.call('GET', '/api/2.0/mlflow-artifacts/artifacts', { path: `${exp}/models/${modelId}/artifacts` });
    expect(listing.json.files.map((f: any) => f.path).sort()).toEqual(['MLmodel', 'conda.yaml', 'requirements.txt']);
    const dirs = await s.call('GET', `logged-models/${modelId}/artifacts/directories`, {});
    expect(dirs.json.files.map((f: any) => f.path).sort()).toEqual(['MLmodel', 'conda.yaml', 'requirements.txt']);
    const mlmodel = await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${exp}/models/${modelId}/artifacts/MLmodel`, s.url));
    expect(await mlmodel.text()).toBe(files.MLmodel);
    const runs = await s.call('POST', 'runs/search', { experiment_ids: [exp], max_results: 1000 });
    expect(runs.json.runs[0].outputs.model_outputs).toEqual([{ model_id: modelId, step: 0 }]);
  });

  it('replays the MLflow 2.x Python client: log_model uploads into the run and calls runs/log-model', async () => {
    const exp = (await s.call('POST', 'experiments/create', { name: 'flow2' })).json.experiment_id;
    const run = (await s.call('POST', 'runs/create', { experiment_id: exp, start_time: Date.now() })).json.run.info;
    expect(run.artifact_uri).toBe(`mlflow-artifacts:/${exp}/${run.run_id}/artifacts`);
    expect((await put(`${exp}/${run.run_id}/artifacts/model/MLmodel`, 'flavors: {}\n')).status).toBe(200);
    expect((await put(`${exp}/${run.run_id}/artifacts/model/python_env.yaml`, 'python: 3.11\n')).status).toBe(200);
    const modelJson = JSON.stringify({ artifact_path: 'model', flavors: { python_function: {} }, utc_time_created: '2026-11-28 10:00:00.000000', run_id: run.run_id });
    expect((await s.call('POST', 'runs/log-model', { run_id: run.run_id, model_json: modelJson })).status).toBe(200);
    const got = (await s.call('GET', 'runs/get', { run_id: run.run_id })).json.run;
    const history = JSON.parse(got.data.tags.find((t: any) => t.key === 'mlflow.log-model.history').value);
    expect(history[0].artifact_path).toBe('model');
    const list = await s.call('GET', 'artifacts/list', { run_id: run.run_id, path: 'model' });
    expect(list.json.root_uri).toBe(run.artifact_uri);
    expect(list.json.files.map((f: any) => f.path).sort()).toEqual(['model/MLmodel', 'model/python_env.yaml']);
    expect((await s.call('POST', 'runs/log-model', { run_id: run.run_id, model_json: '{"flavors":{}}' })).status).toBe(400);
  });
});

describe('MLflow 3 extras', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('serves logged models under /api/3.0 and lets the UI download a model file', async () => {
    const exp = (await s.call('POST', 'experiments/create', { name: 'v3' })).json.experiment_id;
    const model = (await s.call('POST', '/api/3.0/mlflow/logged-models', { experiment_id: exp, name: 'm' })).json.model;
    const id = model.info.model_id;
    await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${exp}/models/${id}/artifacts/MLmodel`, s.url), { method: 'PUT', body: 'flavors: {}\n' });
    const file = await fetch(new URL(`/ajax-api/2.0/mlflow/logged-models/${id}/artifacts/files?artifact_file_path=MLmodel`, s.url));
    expect(file.status).toBe(200);
    expect(await file.text()).toBe('flavors: {}\n');
    const bad = await fetch(new URL(`/ajax-api/2.0/mlflow/logged-models/${id}/artifacts/files?artifact_file_path=../../x`, s.url));
    expect(bad.status).toBe(400);
    expect((await s.call('GET', `/api/3.0/mlflow/logged-models/${id}`)).json.model.info.name).toBe('m');
  });
});
