import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { isFlywheelError } from '../src/core/index.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isFlywheelError(e)) return e.code;
    throw e;
  }
  return 'OK';
}

describe.each(DIALECTS)('tracking store on %s', (dialect) => {
  let ts: TestStore;
  let t: SqlTrackingStore;
  beforeAll(async () => {
    ts = await freshStore(dialect);
    t = new SqlTrackingStore(ts.store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    await t.ensureDefaultExperiment();
    await t.ensureDefaultExperiment(); // idempotent
  });
  afterAll(() => ts.dispose());

  it('has the Default experiment "0"', async () => {
    const e = await t.getExperiment('0');
    expect(e).toMatchObject({ experiment_id: '0', name: 'Default', lifecycle_stage: 'active', artifact_location: 'mlflow-artifacts:/0' });
  });

  it('creates, finds, renames, tags, deletes and restores experiments', async () => {
    const id = await t.createExperiment({ name: 'exp-a', tags: [{ key: 'team', value: 'fraud' }] });
    expect(id).not.toBe('0');
    const e = await t.getExperimentByName('exp-a');
    expect(e).toMatchObject({ experiment_id: id, artifact_location: `mlflow-artifacts:/${id}`, tags: [{ key: 'team', value: 'fraud' }] });
    expect(await codeOf(t.createExperiment({ name: 'exp-a' }))).toBe('RESOURCE_ALREADY_EXISTS');
    await t.updateExperiment(id, 'exp-a2');
    expect((await t.getExperiment(id)).name).toBe('exp-a2');
    await t.setExperimentTag(id, 'team', 'risk');
    expect((await t.getExperiment(id)).tags).toEqual([{ key: 'team', value: 'risk' }]);
    await t.deleteExperimentTag(id, 'team');
    expect((await t.getExperiment(id)).tags).toBeUndefined();
    expect(await codeOf(t.deleteExperimentTag(id, 'team'))).toBe('RESOURCE_DOES_NOT_EXIST');

    const before = (await t.createRun({ experiment_id: id })).info.run_id;
    await t.deleteRun(before);
    const withExp = (await t.createRun({ experiment_id: id })).info.run_id;
    await new Promise((r) => setTimeout(r, 5)); // the restore rule compares deletion times
    await t.deleteExperiment(id);
    expect((await t.getExperiment(id)).lifecycle_stage).toBe('deleted');
    expect((await t.getRun(withExp)).info.lifecycle_stage).toBe('deleted');
    expect(await codeOf(t.updateExperiment(id, 'x'))).toBe('INVALID_STATE');
    expect(await codeOf(t.createRun({ experiment_id: id }))).toBe('INVALID_PARAMETER_VALUE');
    await t.restoreExperiment(id);
    expect((await t.getRun(withExp)).info.lifecycle_stage).toBe('active');
    // a run deleted before its experiment stays deleted
    expect((await t.getRun(before)).info.lifecycle_stage).toBe('deleted');
    expect(await codeOf(t.getExperiment('999999'))).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(await codeOf(t.getExperiment('abc'))).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(await codeOf(t.createExperiment({ name: 'x'.repeat(501) }))).toBe('INVALID_PARAMETER_VALUE');
  });

  it('keeps run name and mlflow.runName tag in sync', async () => {
    const a = await t.createRun({ experiment_id: '0', run_name: 'alpha' });
    expect(a.info.run_name).toBe('alpha');
    expect(a.data.tags).toContainEqual({ key: 'mlflow.runName', value: 'alpha' });
    const b = await t.createRun({ experiment_id: '0', tags: [{ key: 'mlflow.runName', value: 'beta' }] });
    expect(b.info.run_name).toBe('beta');
    const c = await t.createRun({ experiment_id: '0' });
    expect(c.info.run_name).toMatch(/^[a-z]+-[a-z]+-\d+$/);
    expect(await codeOf(t.createRun({ experiment_id: '0', run_name: 'x', tags: [{ key: 'mlflow.runName', value: 'y' }] }))).toBe('INVALID_PARAMETER_VALUE');
    await t.updateRun({ run_id: a.info.run_id, run_name: 'gamma', status: 'FINISHED', end_time: 123 });
    const a2 = await t.getRun(a.info.run_id);
    expect(a2.info).toMatchObject({ run_name: 'gamma', status: 'FINISHED', end_time: 123 });
    expect(a2.data.tags).toContainEqual({ key: 'mlflow.runName', value: 'gamma' });
    await t.setTag(b.info.run_id, 'mlflow.runName', 'delta');
    expect((await t.getRun(b.info.run_id)).info.run_name).toBe('delta');
    expect(a.info.artifact_uri).toBe(`mlflow-artifacts:/0/${a.info.run_id}/artifacts`);
    expect(a.info.run_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('logs metrics with MLflow latest-value rules, NaN and ±Infinity exactly', async () => {
    const run = (await t.createRun({ experiment_id: '0' })).info.run_id;
    await t.logMetric(run, { key: 'loss', value: 0.5, timestamp: 10, step: 2 });
    await t.logMetric(run, { key: 'loss', value: 0.9, timestamp: 20, step: 1 }); // older step: not latest
    await t.logMetric(run, { key: 'nan', value: NaN, timestamp: 1, step: 0 });
    await t.logMetric(run, { key: 'inf', value: Infinity, timestamp: 1, step: 0 });
    await t.logMetric(run, { key: 'ninf', value: -Infinity, timestamp: 1, step: 0 });
    await t.logMetric(run, { key: 'big', value: 1.7976931348623157e308, timestamp: 1, step: 0 });
    const latest = Object.fromEntries((await t.getRun(run)).data.metrics!.map((m) => [m.key, m.value]));
    expect(latest).toEqual({ loss: 0.5, nan: NaN, inf: Infinity, ninf: -Infinity, big: 1.7976931348623157e308 });
    const hist = await t.getMetricHistory({ run_id: run, metric_key: 'loss' });
    expect(hist.items.map((m) => [m.step, m.value])).toEqual([[1, 0.9], [2, 0.5]]);
    expect((await t.getMetricHistory({ run_id: run, metric_key: 'absent' })).items).toEqual([]);
    expect(await codeOf(t.logMetric(run, { key: 'bad key!', value: 1, timestamp: 1, step: 0 }))).toBe('INVALID_PARAMETER_VALUE');
    expect(await codeOf(t.logMetric(run, { key: '../x', value: 1, timestamp: 1, step: 0 }))).toBe('INVALID_PARAMETER_VALUE');
    expect(await codeOf(t.logMetric('0'.repeat(32), { key: 'x', value: 1, timestamp: 1, step: 0 }))).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('pages metric history and answers bulk-interval with sampled steps', async () => {
    const run = (await t.createRun({ experiment_id: '0' })).info.run_id;
    const metrics = Array.from({ length: 1000 }, (_, i) => ({ key: 'acc', value: i / 1000, timestamp: 1000 + i, step: i }));
    await t.logBatch({ run_id: run, metrics });
    const seen: number[] = [];
    let token: string | undefined;
    do {
      const page = await t.getMetricHistory({ run_id: run, metric_key: 'acc', max_results: 300, page_token: token });
      seen.push(...page.items.map((m) => m.step));
      token = page.next_page_token;
    } while (token);
    expect(seen).toEqual(metrics.map((m) => m.step));
    const other = (await t.createRun({ experiment_id: '0' })).info.run_id;
    await t.logBatch({ run_id: other, metrics: [{ key: 'acc', value: 1, timestamp: 1, step: 5000 }] });
    const sampled = await t.getMetricHistoryBulkInterval({ run_ids: [run, other], metric_key: 'acc', max_results: 10 });
    const steps = sampled.filter((m) => m.run_id === run).map((m) => m.step);
    // 10 samples spread over the union range [0, 5000]: run 1's steps at ≥ 0, 555.6, … and its last step
    expect(steps).toEqual([0, 556, 999]);
    const alone = await t.getMetricHistoryBulkInterval({ run_ids: [run], metric_key: 'acc', max_results: 10 });
    expect(alone.map((m) => m.step)).toEqual([0, 111, 222, 333, 444, 555, 666, 777, 888, 999]);
    expect(alone[1]).toEqual({ key: 'acc', value: 0.111, timestamp: 1111, step: 111, run_id: run });
    expect(sampled.filter((m) => m.run_id === other).map((m) => m.step)).toEqual([5000]);
    const ranged = await t.getMetricHistoryBulkInterval({ run_ids: [run], metric_key: 'acc', start_step: 100, end_step: 199, max_results: 2500 });
    expect(ranged.map((m) => m.step)).toEqual(Array.from({ length: 100 }, (_, i) => 100 + i));
    expect(await codeOf(t.getMetricHistoryBulkInterval({ run_ids: [run], metric_key: 'acc', start_step: 1 }))).toBe('INVALID_PARAMETER_VALUE');
    expect(await codeOf(t.getMetricHistoryBulkInterval({ run_ids: Array(101).fill(run), metric_key: 'acc' }))).toBe('INVALID_PARAMETER_VALUE');
  });

  it('keeps params immutable, truncates long values, validates batches', async () => {
    const run = (await t.createRun({ experiment_id: '0' })).info.run_id;
    await t.logParam(run, 'p', '1');
    await t.logParam(run, 'p', '1');
    expect(await codeOf(t.logParam(run, 'p', '2'))).toBe('INVALID_PARAMETER_VALUE');
    await t.logParam(run, 'long', 'x'.repeat(7000));
    await t.setTag(run, 'long', 'y'.repeat(9000));
    const r = await t.getRun(run);
    expect(r.data.params!.find((p) => p.key === 'long')!.value.length).toBe(6000);
    expect(r.data.tags!.find((p) => p.key === 'long')!.value.length).toBe(8000);
    expect(await codeOf(t.logBatch({ run_id: run, params: [{ key: 'd', value: '1' }, { key: 'd', value: '2' }] }))).toBe('INVALID_PARAMETER_VALUE');
    expect(await codeOf(t.logBatch({ run_id: run, metrics: Array.from({ length: 1001 }, (_, i) => ({ key: 'b', value: 1, timestamp: i, step: 0 })) }))).toBe('INVALID_PARAMETER_VALUE');
    expect(await codeOf(t.logBatch({ run_id: run, params: Array.from({ length: 101 }, (_, i) => ({ key: `k${i}`, value: 'v' })) }))).toBe('INVALID_PARAMETER_VALUE');
    // a batch that fails validation writes nothing
    expect(await codeOf(t.logBatch({ run_id: run, params: [{ key: 'p', value: '9' }], metrics: [{ key: 'zz', value: 1, timestamp: 1, step: 0 }] }))).toBe('INVALID_PARAMETER_VALUE');
    expect((await t.getMetricHistory({ run_id: run, metric_key: 'zz' })).items).toEqual([]);
    await t.logBatch({ run_id: run, tags: [{ key: 't', value: '1' }, { key: 't', value: '2' }], metrics: [{ key: 'm', value: 1, timestamp: 1, step: 0 }, { key: 'm', value: 2, timestamp: 2, step: 0 }] });
    const r2 = await t.getRun(run);
    expect(r2.data.tags).toContainEqual({ key: 't', value: '2' });
    expect(r2.data.metrics).toContainEqual({ key: 'm', value: 2, timestamp: 2, step: 0 });
    await t.deleteTag(run, 't');
    expect(await codeOf(t.deleteTag(run, 't'))).toBe('RESOURCE_DOES_NOT_EXIST');
    await t.deleteRun(run);
    expect(await codeOf(t.logParam(run, 'q', '1'))).toBe('INVALID_PARAMETER_VALUE');
    await t.restoreRun(run);
    await t.logParam(run, 'q', '1');
  });

  it('logs dataset inputs and model inputs/outputs, and summarises datasets', async () => {
    const exp = await t.createExperiment({ name: 'datasets' });
    const run = (await t.createRun({ experiment_id: exp })).info.run_id;
    const dataset = { name: 'train', digest: 'abc123', source_type: 'local', source: '{"uri":"/data/train.csv"}', schema: '{"x":1}' };
    await t.logInputs(run, [{ dataset, tags: [{ key: 'mlflow.data.context', value: 'training' }] }], [{ model_id: 'm-1' }]);
    await t.logInputs(run, [{ dataset, tags: [{ key: 'mlflow.data.context', value: 'training' }] }]); // idempotent
    await t.logOutputs(run, [{ model_id: 'm-2', step: 3 }]);
    const r = await t.getRun(run);
    expect(r.inputs.dataset_inputs).toEqual([{ dataset, tags: [{ key: 'mlflow.data.context', value: 'training' }] }]);
    expect(r.inputs.model_inputs).toEqual([{ model_id: 'm-1' }]);
    expect(r.outputs?.model_outputs).toEqual([{ model_id: 'm-2', step: 3 }]);
    expect(await t.searchDatasets([exp])).toEqual([{ experiment_id: exp, name: 'train', digest: 'abc123', context: 'training' }]);
    expect(await codeOf(t.logInputs(run, [{ dataset: { ...dataset, digest: 'x'.repeat(37) } }]))).toBe('INVALID_PARAMETER_VALUE');
  });

  it('manages MLflow 3 logged models', async () => {
    const exp = await t.createExperiment({ name: 'models' });
    const run = (await t.createRun({ experiment_id: exp })).info.run_id;
    const m = await t.createLoggedModel({ experiment_id: exp, name: 'model', source_run_id: run, params: [{ key: 'a', value: '1' }], tags: [{ key: 't', value: 'v' }] });
    expect(m.info).toMatchObject({ name: 'model', status: 'LOGGED_MODEL_PENDING', source_run_id: run, experiment_id: exp });
    expect(m.info.model_id).toMatch(/^m-[0-9a-f]{32}$/);
    expect(m.info.artifact_uri).toBe(`mlflow-artifacts:/${exp}/models/${m.info.model_id}/artifacts`);
    expect(m.data.params).toEqual([{ key: 'a', value: '1' }]);
    const ready = await t.finalizeLoggedModel(m.info.model_id, 'LOGGED_MODEL_READY');
    expect(ready.info.status).toBe('LOGGED_MODEL_READY');
    const tagged = await t.setLoggedModelTags(m.info.model_id, [{ key: 'mlflow.modelVersions', value: '[]' }]);
    expect(tagged.info.tags).toContainEqual({ key: 'mlflow.modelVersions', value: '[]' });
    await t.deleteLoggedModelTag(m.info.model_id, 't');
    await t.logLoggedModelParams(m.info.model_id, [{ key: 'b', value: '2' }]);
    const found = await t.searchLoggedModels({ experiment_ids: [exp], filter: "name = 'model'" });
    expect(found.items.map((x) => x.info.model_id)).toEqual([m.info.model_id]);
    expect((await t.getLoggedModel(m.info.model_id)).data.params).toEqual([{ key: 'a', value: '1' }, { key: 'b', value: '2' }]);
    await t.deleteLoggedModel(m.info.model_id);
    expect(await codeOf(t.getLoggedModel(m.info.model_id))).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(await codeOf(t.createLoggedModel({ experiment_id: '424242' }))).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('searches runs through the filter grammar and pages', async () => {
    const exp = await t.createExperiment({ name: 'search' });
    for (let i = 0; i < 7; i++) {
      const run = (await t.createRun({ experiment_id: exp, start_time: 1000 + i })).info.run_id;
      await t.logBatch({ run_id: run, params: [{ key: 'model', value: i % 2 ? 'a' : 'b' }], metrics: [{ key: 'acc', value: i / 10, timestamp: 1, step: 0 }] });
    }
    const page = await t.searchRuns({ experiment_ids: [exp], filter: "params.model = 'a' and metrics.acc > 0.2", order_by: ['metrics.acc DESC'] });
    expect(page.items.map((r) => r.data.metrics![0].value)).toEqual([0.5, 0.3]);
    const all: string[] = [];
    let token: string | undefined;
    do {
      const p = await t.searchRuns({ experiment_ids: [exp], max_results: 3, page_token: token });
      all.push(...p.items.map((r) => r.info.run_id));
      token = p.next_page_token;
    } while (token);
    expect(new Set(all).size).toBe(7);
    expect(await codeOf(t.searchRuns({ experiment_ids: [exp], filter: 'metrics.acc > x' }))).toBe('INVALID_PARAMETER_VALUE');
  });
});
