import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Flywheel } from '../src/index.js';
import { modelPipelineLineage } from '../src/pipelines/model-lineage.js';
import { PipelineQueries } from '../src/pipelines/pipeline-queries.js';
import { openStore } from '../src/store/index.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { DIALECTS, freshPostgresUri } from './helpers/stores.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
// Each test starts the CLI (and on PostgreSQL migrates a store) a few times: allow for a loaded machine.
vi.setConfig({ testTimeout: 180_000 });

let root: string;

/**
 * The real CLI in a child process, from source through tsx (what `npx flywheel` runs once built), started
 * from the test's snapshot of the sources so the example and the CLI share one copy of each module.
 */
function flywheel(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const env = { ...process.env };
  for (const k of ['FLYWHEEL_TRACKING_URI', 'MLFLOW_TRACKING_URI', 'FLYWHEEL_ARTIFACTS_DESTINATION']) delete env[k];
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], { cwd: root, env, maxBuffer: 1 << 24 }, (error, out, err) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, out, err });
    });
  });
}

interface RunJson {
  pipeline_run_id: string;
  status: string;
  steps: { name: string; status: string; step_run_id: string; cache?: { hit: boolean; reasons: string[] } }[];
}

describe.each(DIALECTS)('the training example through `flywheel pipeline run` on %s', (dialect) => {
  let storeUri: string;
  let artifacts: string;
  let dropDb: (() => Promise<void>) | undefined;
  let pipelineFile: string;
  const store = () => ['--tracking-uri', storeUri];
  const at = () => [...store(), '--artifact-root', artifacts];
  const statuses = (r: RunJson) => Object.fromEntries(r.steps.map((s) => [s.name, s.status]));
  const reasons = (r: RunJson, step: string) => r.steps.find((s) => s.name === step)?.cache?.reasons;

  beforeAll(async () => {
    // A copy of the example beside a snapshot of the sources, as a package named `flywheel` whose entry point is
    // its src/index.ts: the example's `import … from 'flywheel'` (a self-reference) and the CLI then share one
    // copy of each module, and edits others make to the checkout meanwhile cannot reach the runs.
    root = mkdtempSync(join(tmpdir(), 'flywheel-example-'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'flywheel', version: '0.0.0-test', private: true, type: 'module', exports: { '.': './src/index.ts' } }));
    cpSync(join(REPO, 'src'), join(root, 'src'), { recursive: true });
    symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir');
    cpSync(join(REPO, 'tsconfig.json'), join(root, 'tsconfig.json'));
    mkdirSync(join(root, 'examples'));
    cpSync(join(REPO, 'examples/training'), join(root, 'examples/training'), { recursive: true });
    pipelineFile = join(root, 'examples/training/pipeline.ts');
    artifacts = join(root, 'artifacts');
    if (dialect === 'postgres') {
      const pg = await freshPostgresUri();
      storeUri = pg.uri;
      dropDb = pg.drop;
    } else {
      storeUri = join(root, 'flywheel.db');
    }
  });
  afterAll(async () => {
    await dropDb?.();
    rmSync(root, { recursive: true, force: true });
  });

  let first: RunJson;

  it('runs, logs metrics into the step runs and registers the model', async () => {
    const res = await flywheel(['pipeline', 'run', pipelineFile, '--json', ...at()]);
    expect(res.err).not.toMatch(/error:/);
    expect(res.code).toBe(0);
    first = JSON.parse(res.out) as RunJson;
    expect(first.status).toBe('COMPLETED');
    expect(statuses(first)).toEqual({ load: 'COMPLETED', split: 'COMPLETED', train: 'COMPLETED', evaluate: 'COMPLETED', register: 'COMPLETED' });
    expect(res.err).toContain('register: done in');

    const show = await flywheel(['pipeline', 'runs', 'show', first.pipeline_run_id, '--json', ...store()]);
    expect(show.code).toBe(0);
    const run = JSON.parse(show.out) as { step_runs: { step_name: string; tracking_run_id: string; outputs: any }[] };
    const byStep = Object.fromEntries(run.step_runs.map((s) => [s.step_name, s]));
    expect(byStep.train.outputs.output).toMatchObject({ name: 'training/train/output', version: 1, type: 'model' });

    const fw = new Flywheel({ trackingUri: storeUri, artifactsDestination: artifacts });
    try {
      const evaluation = await fw.getRun(byStep.evaluate.tracking_run_id);
      const metrics = Object.fromEntries(evaluation.data.metrics!.map((m) => [m.key, m.value]));
      expect(metrics.accuracy).toBeGreaterThanOrEqual(0.8);
      expect(metrics.auc).toBeGreaterThan(0.9);
      expect((await fw.getMetricHistory(byStep.train.tracking_run_id, 'train_loss')).length).toBeGreaterThan(5);

      const mv = await fw.getModelVersion('training-example', 1);
      expect(mv.run_id).toBe(byStep.register.tracking_run_id);
      expect(mv.source).toBe(`mlflow-artifacts:/${byStep.train.outputs.output.uri}`);
      // The registered files are the model: it loads and predicts.
      const model = await fw.loadModel('models:/training-example/1');
      const [p] = (await model.predict([{ x1: 1, x2: -1, x3: 0.5, x4: 0 }])) as { label: number }[];
      expect(Number(p.label)).toBe(1);
      await model.close();
    } finally {
      await fw.close();
    }
  });

  it('serves every step from the cache on the second run', async () => {
    const res = await flywheel(['pipeline', 'run', pipelineFile, '--explain-cache', ...at()]);
    expect(res.code).toBe(0);
    expect(res.out).toMatch(/^load\s+CACHED\s+0ms\s+hit: all key parts unchanged$/m);
    for (const s of ['split', 'train', 'evaluate', 'register']) expect(res.out).toMatch(new RegExp(`^${s}\\s+CACHED`, 'm'));
    expect(res.out).toContain('train: HIT');
    expect(res.out).toMatch(/pipeline run [0-9a-f]{32}: COMPLETED/);
  });

  it('re-runs exactly train and what follows it after model.ts changes, naming the file', async () => {
    const file = join(root, 'examples/training/model.ts');
    writeFileSync(file, readFileSync(file, 'utf8').replace('model.bias -= options.learningRate', 'model.bias -= 0.9 * options.learningRate'));
    const res = await flywheel(['pipeline', 'run', pipelineFile, '--json', ...at()]);
    expect(res.code).toBe(0);
    const r = JSON.parse(res.out) as RunJson;
    expect(statuses(r)).toEqual({ load: 'CACHED', split: 'CACHED', train: 'COMPLETED', evaluate: 'COMPLETED', register: 'COMPLETED' });
    expect(reasons(r, 'train')).toEqual(['code: examples/training/model.ts changed']);
    expect(reasons(r, 'evaluate')!.join(' ')).toMatch(/input 'model'/);
  });

  it('records why it did not register when the threshold is not met', async () => {
    const res = await flywheel(['pipeline', 'run', pipelineFile, '--param', 'threshold=0.999', '--json', ...at()]);
    expect(res.code).toBe(0);
    const r = JSON.parse(res.out) as RunJson;
    expect(statuses(r)).toMatchObject({ evaluate: 'CACHED', register: 'COMPLETED' });
    const show = await flywheel(['pipeline', 'runs', 'show', r.pipeline_run_id, '--logs', ...store()]);
    expect(show.out).toMatch(/is below the threshold 0\.999: not registered/);
    const fw = new Flywheel({ trackingUri: storeUri, artifactsDestination: artifacts });
    try {
      const versions = await (await fw.registry()).searchModelVersions({ filter: "name = 'training-example'" });
      expect(versions.items.map((v) => v.version).sort()).toEqual(['1', '2']);
    } finally {
      await fw.close();
    }
  });

  it('walks the lineage from the registered version back to the loaded data', async () => {
    const fw = new Flywheel({ trackingUri: storeUri, artifactsDestination: artifacts });
    const db = openStore(storeUri);
    try {
      const tracking = new SqlTrackingStore(db, { defaultArtifactRoot: 'mlflow-artifacts:/' });
      const lineage = await fw.getLineage('training-example', 2);
      const p = await modelPipelineLineage({ tracking, queries: new PipelineQueries(db) }, lineage);
      expect(p).not.toBeNull();
      expect(p!.registered_by_step_run?.step_name).toBe('register');
      expect(p!.model_artifact_version).toMatchObject({ name: 'training/train/output', version: 2, producer_step: 'train' });
      expect(p!.upstream.map((u) => [u.depth, u.name, u.producer_step])).toEqual([
        [1, 'training/split/train', 'split'],
        [2, 'training/load/output', 'load'],
      ]);
      expect(p!.roots).toEqual([expect.objectContaining({ name: 'training/load/output', version: 1, producer_step: 'load' })]);
      expect(p!.roots[0].content_hash).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await db.close();
      await fw.close();
    }
    const cli = await flywheel(['pipeline', 'lineage', 'training-example', '2', ...store()]);
    expect(cli.code).toBe(0);
    expect(cli.out).toMatch(/^registered by:\s+step register /m);
    expect(cli.out).toMatch(/^2\s+training\/load\/output\s+1\s+[0-9a-f]{12}\s+load\s+root$/m);
  });
});
