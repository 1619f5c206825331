import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArtifactStore } from '../src/artifacts/index.js';
import { buildLogisticRegressionOnnx, saveModel } from '../src/models/index.js';
import { ArtifactOutputStore, pipeline, runLocal, SqlPipelineStore, step } from '../src/pipelines/index.js';
import { ModelDirectory } from '../src/pipelines/materializers/index.js';
import { artifactLocation, modelPipelineLineage } from '../src/pipelines/model-lineage.js';
import { PipelineQueries } from '../src/pipelines/pipeline-queries.js';
import { SqlRegistryStore } from '../src/registry/index.js';
import { runCli } from '../src/cli/program.js';
import { buildApp } from '../src/server/app.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

describe.each(DIALECTS)('model lineage into pipelines on %s', (dialect) => {
  let ts: TestStore;
  let dir: string;
  let app: FastifyInstance;
  let tracking: SqlTrackingStore;
  let registry: SqlRegistryStore;
  let queries: PipelineQueries;
  let opts: Parameters<typeof runLocal>[1];

  beforeEach(async () => {
    ts = await freshStore(dialect);
    dir = mkdtempSync(join(tmpdir(), 'flywheel-lineage-'));
    const artifacts = createArtifactStore({ root: dir, serveArtifacts: true });
    tracking = new SqlTrackingStore(ts.store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    await tracking.ensureDefaultExperiment();
    registry = new SqlRegistryStore(ts.store, { tracking, classify: (u) => artifacts.classify(u) });
    queries = new PipelineQueries(ts.store);
    app = await buildApp({ tracking, artifacts, registry, pipelines: queries, logger: false });
    opts = {
      recorder: new SqlPipelineStore(ts.store, tracking),
      outputStore: new ArtifactOutputStore({ store: ts.store, repository: artifacts.repository }),
    };
  });
  afterEach(async () => {
    await app.close();
    await ts.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  // raw → features → fit (model) → publish (registers it from the artifact's location, as its own run)
  const raw = step('raw', () => ({ rows: [[0, 1], [1, 0], [2, 2]], labels: [0, 1, 1] }));
  const features = step('features', (i: { data: { rows: number[][]; labels: number[] } }) => ({ ...i.data, scaled: true }));
  const fit = step('fit', async (_i: { data: unknown }) => {
    const out = join(await mkdtemp(join(tmpdir(), 'flywheel-lineage-model-')), 'model');
    await saveModel(out, { flavor: 'onnx', onnx: buildLogisticRegressionOnnx({ coefficients: [0.5, -0.25], intercept: 0.1 }) });
    return new ModelDirectory(out);
  });
  const publish = step('publish', async (i: { model: ModelDirectory }, ctx) => {
    const source = await artifactLocation(i.model.path);
    await registry.createRegisteredModel({ name: 'clf' }).catch(() => undefined);
    const mv = await registry.createModelVersion({ name: 'clf', source, run_id: ctx.trackingRunId! });
    return { version: mv.version, source };
  });
  const flow = pipeline('lineage-flow', () => publish({ model: fit({ data: features({ data: raw() }) }) }));

  it('walks from a registered version back to the root data artifact, in the API and the query', async () => {
    const run = await runLocal(flow, opts);
    expect(run.status).toBe('COMPLETED');
    const versions = await queries.listArtifactVersions(undefined, { offset: 0, limit: 50 });
    const byName = Object.fromEntries(versions.map((v) => [v.name, v]));
    const model = byName['lineage-flow/fit/output'];
    expect(model.type).toBe('model');

    const res = await app.inject({ method: 'GET', url: '/api/v1/model-versions/clf/1/pipeline-lineage' });
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body);
    expect(body.lineage).toMatchObject({ name: 'clf', version: '1', source: `mlflow-artifacts:/${model.uri}`, run_id: expect.any(String) });
    const p = body.pipeline;
    expect(p.registered_by_step_run).toMatchObject({ id: run.steps.publish.stepRunId, step_name: 'publish', pipeline_run_id: run.pipelineRunId });
    expect(p.registered_by_step_run.tracking_run_id).toBe(body.lineage.run_id);
    expect(p.model_artifact_version).toMatchObject({ id: model.id, name: 'lineage-flow/fit/output', version: 1, content_hash: model.content_hash, producer_step: 'fit' });
    expect(p.producer_step_run).toMatchObject({ id: run.steps.fit.stepRunId, step_name: 'fit' });
    expect(p.pipeline_run).toMatchObject({ id: run.pipelineRunId, pipeline_name: 'lineage-flow', status: 'COMPLETED' });
    expect(p.upstream.map((u: any) => [u.depth, u.name, u.version, u.producer_step, u.content_hash])).toEqual([
      [1, 'lineage-flow/features/output', 1, 'features', byName['lineage-flow/features/output'].content_hash],
      [2, 'lineage-flow/raw/output', 1, 'raw', byName['lineage-flow/raw/output'].content_hash],
    ]);
    expect(p.roots.map((r: any) => r.name)).toEqual(['lineage-flow/raw/output']);
    // The registry's own lineage endpoint is untouched.
    expect((await app.inject({ method: 'GET', url: '/api/v1/model-versions/clf/1/lineage' })).statusCode).toBe(200);
  });

  it('prints the chain with `flywheel pipeline lineage`', async () => {
    await runLocal(flow, opts);
    let out = '';
    let err = '';
    const io = { stdout: (t: string) => void (out += t), stderr: (t: string) => void (err += t) };
    expect(await runCli(['pipeline', 'lineage', 'clf', '1', '--tracking-uri', ts.uri], io)).toBe(0);
    expect(err).toBe('');
    expect(out).toMatch(/^model version:\s+clf 1$/m);
    expect(out).toMatch(/^registered by:\s+step publish \(step run [0-9a-f]{32}\)$/m);
    expect(out).toMatch(/^model artifact:\s+lineage-flow\/fit\/output v1 \([0-9a-f]{12}\) from step fit$/m);
    expect(out).toMatch(/^1\s+lineage-flow\/features\/output\s+1\s+[0-9a-f]{12}\s+features$/m);
    expect(out).toMatch(/^2\s+lineage-flow\/raw\/output\s+1\s+[0-9a-f]{12}\s+raw\s+root$/m);
    out = '';
    expect(await runCli(['pipeline', 'lineage', 'clf', '1', '--json', '--tracking-uri', ts.uri], io)).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ lineage: { name: 'clf' }, pipeline: { roots: [{ name: 'lineage-flow/raw/output' }] } });
    out = '';
    expect(await runCli(['pipeline', 'lineage', 'clf', '9', '--tracking-uri', ts.uri], io)).toBe(1);
    expect(err).toMatch(/RESOURCE_DOES_NOT_EXIST/);
  });

  it('follows a cached re-run to the versions the original run produced', async () => {
    await runLocal(flow, opts);
    const again = await runLocal(flow, opts);
    expect(Object.values(again.steps).map((s) => s.status)).toEqual(['CACHED', 'CACHED', 'CACHED', 'CACHED']);
    const lineage = await registry.lineage('clf', '1');
    const p = await modelPipelineLineage({ tracking, queries }, lineage);
    expect(p?.upstream.map((u) => u.name)).toEqual(['lineage-flow/features/output', 'lineage-flow/raw/output']);
  });

  it('answers pipeline: null for a version registered outside a pipeline, and 404 for an unknown version', async () => {
    const exp = await tracking.createExperiment({ name: 'plain' });
    const r = await tracking.createRun({ experiment_id: exp, start_time: Date.now() });
    await registry.createRegisteredModel({ name: 'plain' });
    await registry.createModelVersion({ name: 'plain', source: `runs:/${r.info.run_id}/model`, run_id: r.info.run_id });
    const res = await app.inject({ method: 'GET', url: '/api/v1/model-versions/plain/1/pipeline-lineage' });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ lineage: { name: 'plain', run_id: r.info.run_id }, pipeline: null });
    const missing = await app.inject({ method: 'GET', url: '/api/v1/model-versions/plain/7/pipeline-lineage' });
    expect(missing.statusCode).toBe(404);
    expect(JSON.parse(missing.body).error_code).toBe('RESOURCE_DOES_NOT_EXIST');
  });
});
