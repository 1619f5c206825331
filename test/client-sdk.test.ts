import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flywheel, FlywheelError, type Run } from '../src/index.js';
import { SDK_MODES_ALL, sdkBackend, type SdkBackend } from './fixtures/sdk-backends.js';
import { rejection } from './helpers/errors.js';

const tag = (run: Run, key: string) => run.data.tags?.find((t) => t.key === key)?.value;
const param = (run: Run, key: string) => run.data.params?.find((p) => p.key === key)?.value;
const latest = (run: Run, key: string) => run.data.metrics?.find((m) => m.key === key)?.value;

describe.each(SDK_MODES_ALL)('Flywheel SDK (%s)', (mode) => {
  let backend: SdkBackend;
  let fw: Flywheel;
  let scratch: string;

  beforeAll(async () => {
    backend = await sdkBackend(mode);
    fw = await Flywheel.connect({ ...backend.options, maxRetries: 0 });
    scratch = mkdtempSync(join(tmpdir(), 'flywheel-sdk-files-'));
  });

  afterAll(async () => {
    await fw?.close();
    await backend?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('has the Default experiment and creates, finds and gets-or-creates experiments', async () => {
    expect((await fw.getExperiment('0')).name).toBe('Default');
    const id = await fw.createExperiment('exp-a', { tags: { team: 'ml' } });
    const exp = await fw.getExperiment(id);
    expect(exp).toMatchObject({ experiment_id: id, name: 'exp-a', lifecycle_stage: 'active', tags: [{ key: 'team', value: 'ml' }] });
    expect((await fw.getExperimentByName('exp-a'))?.experiment_id).toBe(id);
    expect(await fw.getExperimentByName('no-such-experiment')).toBeUndefined();

    const first = await fw.setExperiment('exp-b');
    const again = await fw.setExperiment('exp-b');
    expect(again.experiment_id).toBe(first.experiment_id);
    const names = [];
    for await (const e of fw.iterateExperiments({ maxResults: 1 })) names.push(e.name);
    expect(names.sort()).toEqual(['Default', 'exp-a', 'exp-b']);
  });

  it('logs params, metrics (NaN and ±Infinity too) and tags in withRun, which ends the run FINISHED', async () => {
    const experimentId = await fw.createExperiment('logging');
    const runId = await fw.withRun({ experimentId, runName: 'r1', tags: { stage: 'dev' } }, async (run) => {
      await run.logParam('lr', 0.01);
      await run.logParams({ layers: 3, optimizer: 'adam', shuffle: true });
      await run.setTag('note', 'hello');
      await run.logMetric('loss', 0.5, { step: 0 });
      await run.logMetric('loss', 0.25, { step: 1 });
      await run.logMetrics({ nan: NaN, inf: Infinity, ninf: -Infinity }, { step: 3 });
      return run.runId;
    });
    const run = await fw.getRun(runId);
    expect(run.info).toMatchObject({ run_id: runId, run_name: 'r1', status: 'FINISHED', experiment_id: experimentId });
    expect(run.info.end_time).toBeGreaterThanOrEqual(run.info.start_time);
    expect([param(run, 'lr'), param(run, 'layers'), param(run, 'optimizer'), param(run, 'shuffle')]).toEqual(['0.01', '3', 'adam', 'true']);
    expect([tag(run, 'stage'), tag(run, 'note'), tag(run, 'mlflow.runName'), tag(run, 'mlflow.source.type')]).toEqual(['dev', 'hello', 'r1', 'LOCAL']);
    expect(latest(run, 'loss')).toBe(0.25);
    expect(latest(run, 'nan')).toBeNaN();
    expect(latest(run, 'ninf')).toBeLessThan(-1e308);
    expect(latest(run, 'inf')).toBeGreaterThan(1e308);
    const history = await fw.getMetricHistory(runId, 'loss');
    expect(history.map((m) => [m.step, m.value])).toEqual([[0, 0.5], [1, 0.25]]);
    expect((await fw.getMetricHistory(runId, 'nan'))[0].value).toBeNaN();
  });

  it('batches metrics: 2500 points logged one by one are all there after end()', async () => {
    const run = await fw.startRun({ runName: 'many' });
    for (let step = 0; step < 2500; step++) await run.logMetric('acc', step / 2500, { step });
    await run.end();
    const history = await fw.getMetricHistory(run.runId, 'acc');
    expect(history).toHaveLength(2500);
    expect(history.map((m) => m.step)).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    expect((await fw.getRun(run.runId)).info.status).toBe('FINISHED');
  });

  it('flush() sends buffered metrics on demand', async () => {
    const run = await fw.startRun();
    await run.logMetric('m', 1);
    await run.flush();
    expect(await fw.getMetricHistory(run.runId, 'm')).toHaveLength(1);
    await run.end();
  });

  it('ends the run FAILED when the function throws, and rethrows', async () => {
    let runId = '';
    const boom = new Error('boom');
    await expect(
      fw.withRun({ runName: 'fails' }, async (run) => {
        runId = run.runId;
        await run.logMetric('before', 1);
        throw boom;
      }),
    ).rejects.toBe(boom);
    const run = await fw.getRun(runId);
    expect(run.info.status).toBe('FAILED');
    expect(latest(run, 'before')).toBe(1);
  });

  it('reports a failed metric flush instead of losing it', async () => {
    const run = await fw.startRun();
    await fw.deleteRun(run.runId);
    await run.logMetric('lost', 1);
    const err = await rejection(run.flush());
    expect(err.code).toBe('INVALID_PARAMETER_VALUE');
    // A deleted run cannot be ended either; end() says so, and the run is no longer tracked as active.
    await expect(run.end()).rejects.toBeInstanceOf(FlywheelError);
    expect(run.ended).toBe(true);
  });

  it('uploads files and directories as run artifacts and reads them back', async () => {
    const file = join(scratch, 'model.json');
    writeFileSync(file, '{"weights":[1,2,3]}');
    const tree = join(scratch, 'report');
    mkdirSync(join(tree, 'plots', 'a b'), { recursive: true });
    writeFileSync(join(tree, 'summary.txt'), 'all good');
    writeFileSync(join(tree, 'plots', 'a b', 'loss+1 é.csv'), 'step,loss\n0,1\n');

    const run = await fw.startRun({ runName: 'artifacts' });
    await run.logArtifact(file);
    await run.logArtifact(file, 'models/v1');
    await run.logArtifacts(tree, 'report');
    await run.logText('hi', 'notes/readme.md');
    await run.end();

    const top = await fw.listArtifacts(run.runId);
    expect(top.map((f) => [f.path, f.is_dir]).sort()).toEqual([
      ['model.json', false],
      ['models', true],
      ['notes', true],
      ['report', true],
    ]);
    expect((await fw.listArtifacts(run.runId, 'report/plots')).map((f) => f.path)).toEqual(['report/plots/a b']);
    expect((await fw.readArtifact(run.runId, 'models/v1/model.json')).toString()).toBe('{"weights":[1,2,3]}');
    expect((await fw.readArtifact(run.runId, 'report/plots/a b/loss+1 é.csv')).toString()).toBe('step,loss\n0,1\n');
    expect((await fw.readArtifact(run.runId, 'notes/readme.md')).toString()).toBe('hi');

    // Both ways land in the artifacts directory, where a server on the same store serves them from.
    const onDisk = join(backend.artifactsDir, run.experimentId, run.runId, 'artifacts', 'report', 'summary.txt');
    expect(readFileSync(onDisk, 'utf8')).toBe('all good');

    const dest = join(scratch, 'download');
    const local = await fw.downloadArtifacts(run.runId, 'report', dest);
    expect(readFileSync(join(local, 'plots', 'a b', 'loss+1 é.csv'), 'utf8')).toBe('step,loss\n0,1\n');
    expect(existsSync(join(dest, 'report', 'summary.txt'))).toBe(true);
  });

  it('pages through runs with iterateRuns', async () => {
    const experimentId = await fw.createExperiment('paging');
    const ids = new Set<string>();
    for (let i = 0; i < 7; i++) {
      const run = await fw.startRun({ experimentId, runName: `p${i}` });
      await run.logParam('i', i);
      await run.end();
      ids.add(run.runId);
    }
    const first = await fw.searchRuns({ experimentIds: [experimentId], maxResults: 3 });
    expect(first.items).toHaveLength(3);
    expect(first.next_page_token).toBeTruthy();
    const seen: string[] = [];
    for await (const run of fw.iterateRuns({ experimentIds: [experimentId], maxResults: 3 })) seen.push(run.info.run_id);
    expect(seen).toHaveLength(7);
    expect(new Set(seen)).toEqual(ids);
    const filtered = await fw.searchRuns({ experimentIds: [experimentId], filter: "params.i = '4'" });
    expect(filtered.items.map((r) => r.info.run_name)).toEqual(['p4']);
  });

  it('records dataset inputs', async () => {
    const run = await fw.startRun();
    await run.logInputs([
      { dataset: { name: 'iris', digest: 'abc123', source_type: 'local', source: '{"uri":"iris.csv"}' }, tags: [{ key: 'mlflow.data.context', value: 'train' }] },
    ]);
    await run.end();
    const inputs = (await fw.getRun(run.runId)).inputs.dataset_inputs ?? [];
    expect(inputs.map((d) => d.dataset.name)).toEqual(['iris']);
  });

  it('carries MLflow error codes', async () => {
    expect((await rejection(fw.getRun('0'.repeat(32)))).code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect((await rejection(fw.getExperiment('987654'))).code).toBe('RESOURCE_DOES_NOT_EXIST');
    await fw.createExperiment('dup');
    expect((await rejection(fw.createExperiment('dup'))).code).toBe('RESOURCE_ALREADY_EXISTS');
    const run = await fw.startRun();
    await run.logParam('p', 1);
    expect((await rejection(run.logParam('p', 2))).code).toBe('INVALID_PARAMETER_VALUE');
    await run.end();
    expect((await rejection(run.logMetric('late', 1))).code).toBe('INVALID_STATE');
  });

  it('deletes and restores runs and experiments', async () => {
    const experimentId = await fw.createExperiment('lifecycle');
    const run = await fw.startRun({ experimentId });
    await run.end();
    await fw.deleteRun(run.runId);
    expect((await fw.searchRuns({ experimentIds: [experimentId] })).items).toHaveLength(0);
    await fw.restoreRun(run.runId);
    expect((await fw.searchRuns({ experimentIds: [experimentId] })).items).toHaveLength(1);
    await fw.deleteExperiment(experimentId);
    expect((await fw.getExperiment(experimentId)).lifecycle_stage).toBe('deleted');
    expect((await rejection(fw.setExperiment('lifecycle'))).code).toBe('INVALID_STATE');
    await fw.restoreExperiment(experimentId);
    await fw.renameExperiment(experimentId, 'lifecycle-2');
    expect((await fw.getExperiment(experimentId)).name).toBe('lifecycle-2');
  });
});
