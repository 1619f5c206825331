import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flywheel, FlywheelError, parseModelUri } from '../src/index.js';
import { SDK_MODES_ALL, sdkBackend, type SdkBackend } from './fixtures/sdk-backends.js';
import { rejection } from './helpers/errors.js';

describe('parseModelUri', () => {
  it('parses every model URI form', () => {
    expect(parseModelUri('models:/m/1')).toEqual({ kind: 'version', name: 'm', version: '1' });
    expect(parseModelUri('models:/a/b/007')).toEqual({ kind: 'version', name: 'a/b', version: '7' });
    expect(parseModelUri('models:/m@champion')).toEqual({ kind: 'alias', name: 'm', alias: 'champion' });
    expect(parseModelUri('models:/m/production')).toEqual({ kind: 'stage', name: 'm', stage: 'Production' });
    expect(parseModelUri('models:/m/Latest')).toEqual({ kind: 'latest', name: 'm' });
    expect(parseModelUri('models:/m-abc123')).toEqual({ kind: 'logged-model', modelId: 'm-abc123', path: '' });
    expect(parseModelUri('runs:/abc/model/x')).toEqual({ kind: 'run', runId: 'abc', path: 'model/x' });
    expect(parseModelUri('mlflow-artifacts:/1/x')).toEqual({ kind: 'artifact', uri: 'mlflow-artifacts:/1/x' });
    for (const bad of ['models:/', 'models:/justname', 'models:/m/Prod', 'models:/m@', 'runs:/']) {
      expect(() => parseModelUri(bad)).toThrow(FlywheelError);
    }
  });
});

describe.each(SDK_MODES_ALL)('Flywheel SDK model registry (%s)', (mode) => {
  let backend: SdkBackend;
  let fw: Flywheel;
  let scratch: string;
  let runId: string;
  let runArtifactUri: string;
  const name = 'churn';

  beforeAll(async () => {
    backend = await sdkBackend(mode);
    fw = await Flywheel.connect({ ...backend.options, maxRetries: 0 });
    scratch = mkdtempSync(join(tmpdir(), 'flywheel-reg-files-'));
    const modelDir = join(scratch, 'model-src');
    mkdirSync(join(modelDir, 'data'), { recursive: true });
    writeFileSync(join(modelDir, 'MLmodel'), 'flavors: {}\n');
    writeFileSync(join(modelDir, 'data', 'weights.bin'), Buffer.from([0, 1, 2, 255]));
    await fw.setExperiment('registry-exp');
    const run = await fw.startRun({ runName: 'trainer' });
    await run.logArtifacts(modelDir, 'model');
    await run.end();
    runId = run.runId;
    runArtifactUri = run.artifactUri;
  });

  afterAll(async () => {
    await fw?.close();
    await backend?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('registers a model from runs:/ (creating the registered model once) and reads it back', async () => {
    const v1 = await fw.registerModel(`runs:/${runId}/model`, name, { tags: { team: 'ml' }, description: 'first' });
    expect(v1).toMatchObject({ name, version: '1', run_id: runId, source: `runs:/${runId}/model`, status: 'READY', description: 'first' });
    expect(v1.tags).toEqual([{ key: 'team', value: 'ml' }]);
    const v2 = await fw.registerModel(`runs:/${runId}/model`, name);
    expect(v2.version).toBe('2');
    expect((await fw.getModelVersion(name, 2)).version).toBe('2');
    const rm = await fw.getRegisteredModel(name);
    expect(rm.name).toBe(name);
    const page = await fw.searchRegisteredModels({ filter: `name = '${name}'` });
    expect(page.items.map((m) => m.name)).toEqual([name]);
    expect((await rejection(fw.createRegisteredModel(name))).code).toBe('RESOURCE_ALREADY_EXISTS');
    expect((await rejection(fw.getRegisteredModel('nope'))).code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect((await fw.modelVersionsFromRun(runId)).map((v) => v.version)).toEqual(['1', '2']);
  });

  it('moves an alias with reasons, keeps the history, and rolls back', async () => {
    await fw.setAlias(name, 'champion', 1, { reason: 'first deploy' });
    expect((await fw.getModelVersionByAlias(name, 'champion')).version).toBe('1');
    await fw.setAlias(name, 'champion', '2', { reason: 'better auc' });
    expect((await fw.getModelVersionByAlias(name, 'champion')).version).toBe('2');
    // Newest first.
    const history = (await fw.getPromotionHistory(name)).filter((e) => e.kind === 'alias' && e.alias === 'champion');
    expect(history.map((e) => [e.from_version ?? null, e.to_version, e.reason])).toEqual([
      ['1', '2', 'better auc'],
      [null, '1', 'first deploy'],
    ]);
    const back = await fw.rollbackAlias(name, 'champion', { reason: 'regression' });
    expect(back.version).toBe('1');
    expect((await fw.getModelVersionByAlias(name, 'champion')).version).toBe('1');
    const last = (await fw.getPromotionHistory(name))[0];
    expect(last).toMatchObject({ kind: 'alias', alias: 'champion', from_version: '2', to_version: '1', reason: 'regression' });

    await fw.setAlias(name, 'tmp', 2);
    await fw.deleteAlias(name, 'tmp');
    expect((await rejection(fw.getModelVersionByAlias(name, 'tmp'))).code).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('transitions stages and resolves every model URI form', async () => {
    const moved = await fw.transitionStage(name, 1, 'production', { reason: 'go live' });
    expect(moved.current_stage).toBe('Production');
    const expected = `${runArtifactUri}/model`;
    expect(await fw.resolveModelUri(`models:/${name}/1`)).toBe(expected);
    expect(await fw.resolveModelUri(`models:/${name}@champion`)).toBe(expected);
    expect(await fw.resolveModelUri(`models:/${name}/Production`)).toBe(expected);
    expect(await fw.resolveModelUri(`models:/${name}/production`)).toBe(expected);
    expect(await fw.resolveModelUri(`models:/${name}/latest`)).toBe(expected);
    expect(await fw.resolveModelUri(`runs:/${runId}/model`)).toBe(expected);
    expect(await fw.resolveModelUri(expected)).toBe(expected);

    const tracking = await fw.tracking();
    const exp = await fw.getExperimentByName('registry-exp');
    const logged = await tracking.createLoggedModel({ experiment_id: exp!.experiment_id, name: 'lm', source_run_id: runId });
    expect(await fw.resolveModelUri(`models:/${logged.info.model_id}`)).toBe(logged.info.artifact_uri);

    expect((await rejection(fw.resolveModelUri(`models:/${name}@nobody`))).code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect((await rejection(fw.resolveModelUri(`models:/${name}/Prod`))).code).toBe('INVALID_PARAMETER_VALUE');
    expect((await rejection(fw.resolveModelUri(`models:/${name}/Staging`))).code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect((await rejection(fw.resolveModelUri(`models:/${name}/99`))).code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect((await rejection(fw.resolveModelUri('models:/no-such-model/latest'))).code).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('downloads a model by URI (round trip), and a run artifact URI', async () => {
    const dest = join(scratch, `dl-${Date.now()}`);
    const local = await fw.downloadModel(`models:/${name}@champion`, dest);
    expect(local).toBe(join(dest, 'model'));
    expect(readFileSync(join(local, 'MLmodel'), 'utf8')).toBe('flavors: {}\n');
    expect([...readFileSync(join(local, 'data', 'weights.bin'))]).toEqual([0, 1, 2, 255]);

    const file = await fw.downloadArtifacts(`runs:/${runId}/model/data/weights.bin`, join(scratch, 'one'));
    expect([...readFileSync(file)]).toEqual([0, 1, 2, 255]);
    expect((await rejection(fw.downloadModel(`runs:/${runId}/missing`, join(scratch, 'x')))).code).toBe('RESOURCE_DOES_NOT_EXIST');
    // The run form still works.
    const all = await fw.downloadArtifacts(runId, '', join(scratch, 'all'));
    expect(readFileSync(join(all, 'model', 'MLmodel'), 'utf8')).toBe('flavors: {}\n');
  });

  it('answers lineage', async () => {
    const lineage = await fw.getLineage(name, 1);
    expect(lineage).toMatchObject({
      name,
      version: '1',
      source: `runs:/${runId}/model`,
      artifact_uri: `${runArtifactUri}/model`,
      run_id: runId,
      run_name: 'trainer',
      run_status: 'FINISHED',
    });
    expect(lineage.experiment_id).toBe((await fw.getExperimentByName('registry-exp'))!.experiment_id);
  });

  it('logs an ONNX linear regression, registers it, and loads models:/<name>@champion to predict', async () => {
    const run = await fw.startRun({ runName: 'onnx' });
    const info = await run.logModel(
      { flavor: 'onnx', onnx: { kind: 'linear', coefficients: [0.5, -2, 3], intercept: 1.25 } },
      {
        signature: { inputs: ['a', 'b', 'c'].map((n) => ({ type: 'double' as const, name: n, required: true })) },
        inputExample: [{ a: 1, b: 2, c: 3 }],
        registeredModelName: 'linreg',
      },
    );
    await run.end();
    expect(info.modelUri).toBe(`runs:/${run.runId}/model`);
    expect(info.modelVersion).toMatchObject({ name: 'linreg', version: '1', run_id: run.runId });
    const history = JSON.parse((await fw.getRun(run.runId)).data.tags!.find((t) => t.key === 'mlflow.log-model.history')!.value);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ run_id: run.runId, artifact_path: 'model' });
    expect(Object.keys(history[0].flavors).sort()).toEqual(['onnx', 'python_function']);

    await fw.setAlias('linreg', 'champion', info.modelVersion!.version, { reason: 'first' });
    const model = await fw.loadModel('models:/linreg@champion');
    try {
      const out = (await model.predict([{ a: 1, b: 2, c: 3 }, { a: -1, b: 0.5, c: 0 }])) as { variable: number }[];
      expect(out[0].variable).toBeCloseTo(0.5 - 4 + 9 + 1.25, 5);
      expect(out[1].variable).toBeCloseTo(-0.5 - 1 + 1.25, 5);
    } finally {
      await model.close();
    }
    const again = await fw.loadModel(`runs:/${run.runId}/model`);
    expect(again.flavor).toBe('onnx');
    await again.close();
  });
});
