import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalArtifactRepository } from '../src/artifacts/index.js';
import {
  ArtifactOutputStore,
  pipeline,
  runLocal,
  SqlPipelineStore,
  step,
  type ProgressEvent,
  type StepOutput,
} from '../src/pipelines/index.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

/** Large DAGs: every step scheduled once, in dependency order, skips propagated, a cached re-run recorded whole. */
describe.each(DIALECTS)('pipelines at scale on %s', (dialect) => {
  let ts: TestStore;
  let tracking: SqlTrackingStore;
  let recorder: SqlPipelineStore;
  let repoDir: string;
  beforeEach(async () => {
    ts = await freshStore(dialect);
    tracking = new SqlTrackingStore(ts.store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    recorder = new SqlPipelineStore(ts.store, tracking);
    repoDir = mkdtempSync(join(tmpdir(), 'flywheel-scale-repo-'));
  });
  afterEach(async () => {
    await ts.dispose();
    rmSync(repoDir, { recursive: true, force: true });
  });

  const N = 400;
  const source = step('source', () => 0);
  const inc = step('inc', (i: { x: number }) => i.x + 1);
  const sum = step('sum', (i: Record<string, number>) => Object.values(i).reduce((a, b) => a + b, 0));
  const chain = (name: string, n: number) =>
    pipeline(name, () => {
      let x = source();
      for (let i = 1; i < n; i++) x = inc({ x });
      return x;
    });
  const statusCount = (steps: Record<string, { status: string }>) =>
    Object.values(steps).reduce<Record<string, number>>((acc, s) => ({ ...acc, [s.status]: (acc[s.status] ?? 0) + 1 }), {});

  it(`runs a ${N}-step chain and a ${N}-step fan-out/fan-in, each step once after its upstream`, async () => {
    const started: string[] = [];
    const onProgress = (e: ProgressEvent) => {
      if (e.type === 'step' && e.status === 'RUNNING') started.push(e.name);
    };
    const c = await runLocal(chain('scale-chain', N), { recorder, onProgress });
    expect(c.status).toBe('COMPLETED');
    expect(await c.value(c.returned as StepOutput<number>)).toBe(N - 1);
    expect(started).toEqual(['source', 'inc', ...Array.from({ length: N - 2 }, (_, i) => `inc_${i + 2}`)]);

    const fan = pipeline('scale-fan', () => {
      const s = source();
      const mids: Record<string, StepOutput<number>> = {};
      for (let i = 0; i < N - 2; i++) mids[`x${i}`] = inc({ x: s });
      return sum(mids);
    });
    started.length = 0;
    const f = await runLocal(fan, { recorder, onProgress, concurrency: 4 });
    expect(f.status).toBe('COMPLETED');
    expect(await f.value(f.returned as StepOutput<number>)).toBe(N - 2);
    expect(started[0]).toBe('source');
    expect(started.at(-1)).toBe('sum');
    expect(new Set(started).size).toBe(N);

    const rows = await ts.store.db.selectFrom('step_runs').select(['status']).execute();
    expect(rows).toHaveLength(2 * N);
    expect(rows.every((r) => r.status === 'COMPLETED')).toBe(true);
    expect(await ts.store.db.selectFrom('runs').select('run_uuid').where('status', '=', 'RUNNING').execute()).toEqual([]);
    expect(await ts.store.db.selectFrom('runs').select('run_uuid').execute()).toHaveLength(2 * N + 2);
  }, 240_000);

  it('skips everything downstream of a failure deep in a chain (failFast) and only the sink in a fan-in (continueOnFailure)', async () => {
    const maybeFail = step('inc', (i: { x: number }, ctx) => {
      if (ctx.params.fail) throw new Error(`failed at ${i.x}`);
      return i.x + 1;
    }, { params: { fail: false as boolean } });
    const p = pipeline('scale-fail', () => {
      let x = source();
      for (let i = 1; i < 200; i++) x = maybeFail({ x }, { params: { fail: i === 10 } });
    });
    const r = await runLocal(p, { recorder, mode: 'failFast' });
    expect(r.status).toBe('FAILED');
    expect(statusCount(r.steps)).toEqual({ COMPLETED: 10, FAILED: 1, SKIPPED: 189 });
    expect(r.steps.inc_10.error).toBe('Error: failed at 9');
    expect((await recorder.listStepRuns(r.pipelineRunId)).filter((s) => s.status === 'SKIPPED')).toHaveLength(189);

    const fan = pipeline('scale-fan-fail', () => {
      const s = source();
      const mids: Record<string, StepOutput<number>> = {};
      for (let i = 0; i < 100; i++) mids[`x${i}`] = maybeFail({ x: s }, { params: { fail: i === 50 } });
      const total = sum(mids);
      inc({ x: total }, { name: 'after_sum' });
    });
    const f = await runLocal(fan, { recorder, mode: 'continueOnFailure', concurrency: 3 });
    expect(f.status).toBe('FAILED');
    expect(statusCount(f.steps)).toEqual({ COMPLETED: 100, FAILED: 1, SKIPPED: 2 });
    expect(f.steps.sum.error).toBe("upstream step 'inc_51' failed");
    expect(f.steps.after_sum.error).toBe("upstream step 'sum' skipped");
    expect(await ts.store.db.selectFrom('step_runs').select('id').where('end_time', 'is', null).execute()).toEqual([]);
  }, 240_000);

  it('re-runs a chain entirely from the cache: every step recorded CACHED with its consumed artifact, reported once', async () => {
    const outputStore = new ArtifactOutputStore({ store: ts.store, repository: new LocalArtifactRepository(repoDir) });
    const p = chain('scale-cache', 120);
    const first = await runLocal(p, { recorder, outputStore });
    expect(first.status).toBe('COMPLETED');
    const events: ProgressEvent[] = [];
    const second = await runLocal(p, { recorder, outputStore, onProgress: (e) => events.push(e) });
    expect(second.status).toBe('COMPLETED');
    expect(statusCount(second.steps)).toEqual({ CACHED: 120 });
    expect(await second.value(second.returned as StepOutput<number>)).toBe(119);

    const recorded = await recorder.listStepRuns(second.pipelineRunId);
    expect(recorded).toHaveLength(120);
    expect(new Set(recorded.map((s) => s.id))).toEqual(new Set(Object.values(second.steps).map((s) => s.stepRunId)));
    expect(recorded.every((s) => s.status === 'CACHED' && s.tracking_run_id === null)).toBe(true);
    const consumers = await ts.store.db
      .selectFrom('artifact_consumers')
      .select('step_run_id')
      .where('step_run_id', 'in', recorded.map((s) => s.id))
      .execute();
    expect(consumers).toHaveLength(119); // every step but the source consumes its upstream's output

    const stepEvents = events.filter((e) => e.type === 'step');
    expect(stepEvents).toHaveLength(120);
    expect(stepEvents.every((e) => e.type === 'step' && e.status === 'CACHED')).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'run-finished', status: 'COMPLETED' });
  }, 240_000);
});
