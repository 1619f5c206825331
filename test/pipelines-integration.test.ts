import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalArtifactRepository } from '../src/artifacts/index.js';
import * as api from '../src/pipelines/index.js';
import { ArtifactOutputStore, runLocal, SqlPipelineStore, type ArtifactStoredOutput, type CacheDecision } from '../src/pipelines/index.js';
import { formatCacheExplanation, shortHash } from '../src/pipelines/cache/index.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/pipeline-run', import.meta.url));
type Built = ReturnType<typeof import('./fixtures/pipeline-run/pipeline.js').build>;

let importCount = 0;
const dirs: string[] = [];

/** A fresh copy of the fixture (optionally edited), imported as new modules (the ESM cache keys on the path). */
async function loadFixture(edit?: (dir: string) => void): Promise<Built> {
  const dir = mkdtempSync(join(tmpdir(), 'flywheel-pipeline-run-'));
  dirs.push(dir);
  cpSync(FIXTURE, dir, { recursive: true });
  edit?.(dir);
  const mod = (await import(`${pathToFileURL(join(dir, 'pipeline.ts')).href}?v=${++importCount}`)) as {
    build: (a: typeof api) => Built;
  };
  return mod.build(api);
}

describe.each(DIALECTS)('pipelines: artifacts and caching on %s', (dialect) => {
  let ts: TestStore;
  let recorder: SqlPipelineStore;
  let repo: LocalArtifactRepository;
  let outputStore: ArtifactOutputStore;
  let repoDir: string;

  beforeEach(async () => {
    ts = await freshStore(dialect);
    recorder = new SqlPipelineStore(ts.store);
    repoDir = mkdtempSync(join(tmpdir(), 'flywheel-pipeline-repo-'));
    repo = new LocalArtifactRepository(repoDir);
    outputStore = new ArtifactOutputStore({ store: ts.store, repository: repo });
  });
  afterEach(async () => {
    await ts.dispose();
    rmSync(repoDir, { recursive: true, force: true });
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const statuses = (r: api.PipelineRunResult) => Object.fromEntries(Object.entries(r.steps).map(([k, s]) => [k, s.status]));
  const reasons = (r: api.PipelineRunResult, step: string) => r.steps[step].cache?.reasons ?? [];
  const versions = () =>
    ts.store.db.selectFrom('artifact_versions').selectAll().orderBy('name').orderBy('version').execute();
  const consumers = (stepRunId: string) =>
    ts.store.db.selectFrom('artifact_consumers').select('artifact_version_id').where('step_run_id', '=', stepRunId).execute();

  it('records every output as an artifact version, then serves the whole pipeline from the cache', async () => {
    const { numbers } = await loadFixture();
    const first = await runLocal(numbers, { recorder, outputStore });
    expect(first.status).toBe('COMPLETED');
    expect(statuses(first)).toEqual({ load: 'COMPLETED', transform: 'COMPLETED', report: 'COMPLETED' });
    expect(await first.value(first.returned as api.StepOutput<string>)).toBe('sum:306');
    for (const s of ['load', 'transform', 'report']) expect(reasons(first, s)).toEqual(['no previous run']);

    const av = await versions();
    expect(av.map((v) => [v.name, v.version, v.type, v.materializer])).toEqual([
      ['numbers/load/output', 1, 'json', expect.stringMatching(/^json@/)],
      ['numbers/report/output', 1, expect.any(String), expect.stringMatching(/@/)],
      ['numbers/transform/output', 1, 'json', expect.stringMatching(/^json@/)],
    ]);
    const steps = await recorder.listStepRuns(first.pipelineRunId);
    const byName = Object.fromEntries(steps.map((s) => [s.step_name, s]));
    for (const v of av) {
      const step = v.name.split('/')[1];
      expect(v.producer_step_run_id).toBe(byName[step].id);
      const out = (byName[step].outputs as Record<string, ArtifactStoredOutput>).output;
      expect(out.artifactVersionId).toBe(v.id);
      expect(out.contentHash).toBe(v.content_hash);
      expect(v.content_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(v.size).toBeGreaterThan(0);
      expect(await outputStore.cas.verify(v.content_hash)).toBe(true);
      // Recorded keys and parts (for the next run's diff).
      expect(byName[step].cache_key).toMatch(/^[0-9a-f]{64}$/);
      expect((byName[step].cache_decision as CacheDecision).key).toBe(byName[step].cache_key);
    }
    const avId = (name: string) => av.find((v) => v.name === name)!.id;
    expect(await consumers(byName.transform.id)).toEqual([{ artifact_version_id: avId('numbers/load/output') }]);
    expect(await consumers(byName.report.id)).toEqual([{ artifact_version_id: avId('numbers/transform/output') }]);
    const parts = (byName.transform.cache_decision as CacheDecision).parts;
    expect(parts.code.files?.map((f) => f.path)).toEqual(['lib/shift.ts', 'steps/transform.ts']);
    expect(parts.inputs).toEqual({ xs: av.find((v) => v.name === 'numbers/load/output')!.content_hash });

    const second = await runLocal(numbers, { recorder, outputStore });
    expect(second.status).toBe('COMPLETED');
    expect(statuses(second)).toEqual({ load: 'CACHED', transform: 'CACHED', report: 'CACHED' });
    for (const s of ['load', 'transform', 'report']) {
      expect(second.steps[s].cache?.hit).toBe(true);
      expect(reasons(second, s)).toEqual(['all key parts unchanged']);
      expect(second.steps[s].attempts).toBe(0);
    }
    expect(await versions()).toHaveLength(3);
    expect(await second.value(second.returned as api.StepOutput<string>)).toBe('sum:306');
    const cachedSteps = Object.fromEntries((await recorder.listStepRuns(second.pipelineRunId)).map((s) => [s.step_name, s]));
    expect(cachedSteps.transform.status).toBe('CACHED');
    expect(cachedSteps.transform.outputs).toEqual(byName.transform.outputs);
    expect((cachedSteps.transform.cache_decision as CacheDecision).previousStepRunId).toBe(byName.transform.id);
    expect(await consumers(cachedSteps.report.id)).toEqual([{ artifact_version_id: avId('numbers/transform/output') }]);
    expect(formatCacheExplanation('load', second.steps.load.cache!)[0]).toMatch(/^load: HIT/);
  });

  it('re-runs a step whose imported helper changed, and its downstream step; names the file', async () => {
    const { numbers } = await loadFixture();
    await runLocal(numbers, { recorder, outputStore });
    const edited = await loadFixture((dir) => {
      const file = join(dir, 'lib/shift.ts');
      writeFileSync(file, readFileSync(file, 'utf8').replace('OFFSET = 100', 'OFFSET = 200'));
    });
    const r = await runLocal(edited.numbers, { recorder, outputStore });
    expect(statuses(r)).toEqual({ load: 'CACHED', transform: 'COMPLETED', report: 'COMPLETED' });
    expect(reasons(r, 'transform')).toEqual(['code: lib/shift.ts changed']);
    expect(reasons(r, 'report')).toEqual([expect.stringMatching(/^input 'ys': hash .+ → .+/)]);
    expect(await r.value(r.returned as api.StepOutput<string>)).toBe('sum:606');
    expect((await versions()).map((v) => `${v.name}@${v.version}`)).toEqual([
      'numbers/load/output@1',
      'numbers/report/output@1',
      'numbers/report/output@2',
      'numbers/transform/output@1',
      'numbers/transform/output@2',
    ]);
  });

  it('misses on a changed parameter with the parameter diff', async () => {
    const { numbers } = await loadFixture();
    await runLocal(numbers, { recorder, outputStore });
    const r = await runLocal(numbers, { recorder, outputStore, params: { label: 'total' } });
    expect(statuses(r)).toEqual({ load: 'CACHED', transform: 'CACHED', report: 'COMPLETED' });
    expect(reasons(r, 'report')).toEqual(['params.label: "sum" → "total"']);
    expect(await r.value(r.returned as api.StepOutput<string>)).toBe('total:306');
    // Back to the first value: the first run's record hits again.
    const back = await runLocal(numbers, { recorder, outputStore });
    expect(statuses(back)).toEqual({ load: 'CACHED', transform: 'CACHED', report: 'CACHED' });
  });

  it('misses when a cached artifact is gone from the repository, and re-runs the step', async () => {
    const { numbers } = await loadFixture();
    const first = await runLocal(numbers, { recorder, outputStore });
    const load = (await recorder.listStepRuns(first.pipelineRunId)).find((s) => s.step_name === 'load')!;
    const out = (load.outputs as Record<string, ArtifactStoredOutput>).output;
    await repo.delete(out.uri);
    expect(await outputStore.cas.verify(out.contentHash)).toBe(false);

    const r = await runLocal(numbers, { recorder, outputStore });
    expect(statuses(r)).toEqual({ load: 'COMPLETED', transform: 'CACHED', report: 'CACHED' });
    expect(reasons(r, 'load')).toEqual([`artifact: numbers/load/output v1 (${shortHash(out.contentHash)}) is missing or corrupt in the repository`]);
    expect(await outputStore.cas.verify(out.contentHash)).toBe(true);
    const loads = (await versions()).filter((v) => v.name === 'numbers/load/output');
    expect(loads.map((v) => [v.version, v.content_hash])).toEqual([
      [1, out.contentHash],
      [2, out.contentHash],
    ]);
    expect(await r.value(r.returned as api.StepOutput<string>)).toBe('sum:306');
  });

  it('always runs a step declaring cache: false, and every step with a run-level cache: false', async () => {
    const { audited } = await loadFixture();
    await runLocal(audited, { recorder, outputStore });
    const r = await runLocal(audited, { recorder, outputStore });
    expect(statuses(r)).toEqual({ load: 'CACHED', transform: 'CACHED', report: 'CACHED', audit: 'COMPLETED' });
    expect(reasons(r, 'audit')).toEqual(['caching disabled: the step declares cache: false']);

    const off = await runLocal(audited, { recorder, outputStore, cache: false });
    expect(statuses(off)).toEqual({ load: 'COMPLETED', transform: 'COMPLETED', report: 'COMPLETED', audit: 'COMPLETED' });
    expect(reasons(off, 'load')).toEqual(['caching disabled: the run has cache: false']);

    const cfg = await runLocal(audited, { recorder, outputStore, config: { steps: { transform: { cache: false } } } });
    expect(statuses(cfg)).toEqual({ load: 'CACHED', transform: 'COMPLETED', report: 'CACHED', audit: 'COMPLETED' });
  });
});
