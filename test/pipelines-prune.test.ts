import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalArtifactRepository } from '../src/artifacts/index.js';
import { ArtifactAdmin, parseDuration } from '../src/pipelines/artifact-admin.js';
import { ArtifactOutputStore, pipeline, runLocal, SqlPipelineStore, step } from '../src/pipelines/index.js';
import { PipelineQueries } from '../src/pipelines/pipeline-queries.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

const load = step('load', (_: {}, ctx) => ({ n: ctx.params.n as number }), { params: { n: 1 } });
const double = step('double', ({ x }: { x: { n: number } }) => [x.n * 2]);
const numbers = pipeline('numbers', (p: { n: number }) => double({ x: load({}, { params: { n: p.n } }) }), { params: { n: 1 } });

describe.each(DIALECTS)('artifacts prune on %s', (dialect) => {
  let ts: TestStore;
  let dir: string;
  let admin: ArtifactAdmin;
  let queries: PipelineQueries;
  let opts: Parameters<typeof runLocal>[1];

  beforeEach(async () => {
    ts = await freshStore(dialect);
    dir = mkdtempSync(join(tmpdir(), 'flywheel-prune-'));
    const repository = new LocalArtifactRepository(dir);
    const tracking = new SqlTrackingStore(ts.store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    admin = new ArtifactAdmin(ts.store, repository);
    queries = new PipelineQueries(ts.store);
    opts = { recorder: new SqlPipelineStore(ts.store, tracking), outputStore: new ArtifactOutputStore({ store: ts.store, repository }) };
  });
  afterEach(async () => {
    await ts.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const stepsOf = async (runId: string) =>
    Object.fromEntries((await queries.getPipelineRun(runId)).step_runs.map((s) => [s.step_name, s]));
  const casDir = (v: { content_hash: string }) => join(dir, 'cas', v.content_hash.slice(0, 2), v.content_hash);
  const versionCount = async () => Number((await ts.store.db.selectFrom('artifact_versions').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  async function registerModel(name: string, fields: { source: string; run_id?: string | null }) {
    const now = Date.now();
    await ts.store.db.insertInto('registered_models').values({ name, creation_timestamp: now, last_updated_timestamp: now, description: null, user_id: null }).execute();
    await ts.store.db
      .insertInto('model_versions')
      .values({
        name, version: 1, creation_timestamp: now, last_updated_timestamp: now, user_id: null, current_stage: 'None', description: null,
        source: fields.source, run_id: fields.run_id ?? null, status: 'READY', status_message: null, run_link: null, storage_location: null,
      })
      .execute();
  }

  it('keeps what registered models and kept runs use, deletes the rest, and a later run re-runs pruned steps', async () => {
    const r1 = await runLocal(numbers, { ...opts, params: { n: 1 } });
    const r2 = await runLocal(numbers, { ...opts, params: { n: 2 } });
    const r3 = await runLocal(numbers, { ...opts, params: { n: 3 } });
    const r3b = await runLocal(numbers, { ...opts, params: { n: 3 } }); // all cache hits: reuses r3's versions
    expect([r1, r2, r3, r3b].map((r) => r.status)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED', 'COMPLETED']);
    const s1 = await stepsOf(r1.pipelineRunId);
    const s2 = await stepsOf(r2.pipelineRunId);
    const s3 = await stepsOf(r3.pipelineRunId);
    expect((await stepsOf(r3b.pipelineRunId)).double.status).toBe('CACHED');

    // Run 1 is old, but a model was registered from its double output (by location) and from its load step's run.
    const r1double = await queries.getArtifactVersionRow(s1.double.output_artifact_version_ids[0]);
    const r1load = await queries.getArtifactVersionRow(s1.load.output_artifact_version_ids[0]);
    await registerModel('by-source', { source: `mlflow-artifacts:/${r1double.uri}/data.json` });
    await registerModel('by-run', { source: `runs:/${s1.load.tracking_run_id}/model`, run_id: s1.load.tracking_run_id });

    // Saved outside pipelines: v1 and v3 share content.
    const saved = [await admin.save('saved', [1]), await admin.save('saved', [10]), await admin.save('saved', [1])];

    const r2load = await queries.getArtifactVersionRow(s2.load.output_artifact_version_ids[0]);
    const r2double = await queries.getArtifactVersionRow(s2.double.output_artifact_version_ids[0]);
    const before = await versionCount();

    // Dry run: the plan, nothing changed.
    const dry = await admin.prune({ keepLast: 2, dryRun: true });
    expect(dry.dry_run).toBe(true);
    const label = (e: { name: string; version: number }) => `${e.name}:${e.version}`;
    // keep-last 2 keeps runs r3 and r3b (which reuses r3's versions); r2 goes, r1 stays for the models;
    // of 'saved', v2 and v3 stay.
    expect(dry.deleted.map(label).sort()).toEqual(['numbers/double/output:2', 'numbers/load/output:2', 'saved:1']);
    expect(dry.removed_blobs.sort()).toEqual([r2load.content_hash, r2double.content_hash].sort());
    const kept = Object.fromEntries(dry.kept.map((k) => [label(k), k.reasons]));
    expect(kept['numbers/double/output:1'].join()).toContain("used by registered model 'by-source' version 1 (its source is this artifact's content)");
    expect(kept['numbers/load/output:1'].join()).toContain(`used by registered model 'by-run' version 1 (registered from the run ${s1.load.tracking_run_id} of step 'load')`);
    expect(kept['numbers/double/output:3'].join()).toContain(`used by run ${r3.pipelineRunId}`);
    expect(kept['numbers/double/output:3'].join()).toContain(`used by run ${r3b.pipelineRunId}`);
    expect(kept['saved:3']).toEqual(["one of the latest 2 versions of 'saved'"]);
    expect(await versionCount()).toBe(before);
    expect(existsSync(casDir(r2load))).toBe(true);

    // With keep-last 1 the oldest saved version goes too, but its content stays: v3 has the same.
    const result = await admin.prune({ keepLast: 1 });
    expect(result.deleted.map(label).sort()).toEqual(['numbers/double/output:2', 'numbers/load/output:2', 'saved:1', 'saved:2']);
    expect(result.removed_blobs.sort()).toEqual([r2load.content_hash, r2double.content_hash, saved[1].content_hash].sort());
    expect(result.freed_bytes).toBeGreaterThan(0);
    expect(await versionCount()).toBe(before - 4);
    expect(existsSync(casDir(r2load))).toBe(false);
    expect(existsSync(casDir(r2double))).toBe(false);
    expect(existsSync(casDir(saved[2]))).toBe(true); // shared by v1 (deleted) and v3 (kept)
    expect(await admin.load('saved')).toEqual([1]);
    expect(existsSync(casDir(r1load))).toBe(true);
    await expect(admin.load('saved', 2)).rejects.toMatchObject({ code: 'RESOURCE_DOES_NOT_EXIST' });
    // Consumers of the pruned versions went with them.
    const consumers = await ts.store.db.selectFrom('artifact_consumers').selectAll().where('artifact_version_id', 'in', [r2load.id, r2double.id]).execute();
    expect(consumers).toEqual([]);

    // The pruned run still shows its outputs, marked.
    const s2after = await stepsOf(r2.pipelineRunId);
    expect(s2after.load.outputs!.output).toMatchObject({ artifactVersionId: r2load.id, pruned: true });
    expect(s2after.load.output_artifact_version_ids).toEqual([]);
    expect((await stepsOf(r3.pipelineRunId)).load.outputs!.output).not.toHaveProperty('pruned');

    // A run with r2's parameters finds its cached outputs pruned and runs both steps again.
    const again = await runLocal(numbers, { ...opts, params: { n: 2 } });
    expect(again.status).toBe('COMPLETED');
    expect(again.steps.load.status).toBe('COMPLETED');
    expect(again.steps.double.status).toBe('COMPLETED');
    expect(again.steps.load.cache?.reasons.join()).toMatch(/no longer recorded/);
    expect(await again.value((numbers.build({ n: 2 }).returned as any))).toEqual([4]);
    // r3's outputs were kept: still a cache hit.
    const hit = await runLocal(numbers, { ...opts, params: { n: 3 } });
    expect(hit.steps.double.status).toBe('CACHED');
  });

  it("keeps what a step registered a model from (the model version's run is that step's run)", async () => {
    const prep = step('prep', () => ({ rows: 3 }));
    const train = step('train', ({ data }: { data: { rows: number } }, ctx) => ({ w: ctx.params.w as number, rows: data.rows }), { params: { w: 1 } });
    const register = step('register', ({ model }: { model: { w: number } }) => `registered w=${model.w}`);
    const reg = pipeline('reg', (p: { w: number }) => register({ model: train({ data: prep() }, { params: { w: p.w } }) }), { params: { w: 1 } });
    const first = await runLocal(reg, { ...opts, params: { w: 1 } });
    const second = await runLocal(reg, { ...opts, params: { w: 2 } });
    const s1 = await stepsOf(first.pipelineRunId);
    await registerModel('from-step', { source: 'models:/m-unrelated', run_id: s1.register.tracking_run_id });
    // Registered with the pipeline run's own tracking run: the whole run is kept.
    await registerModel('from-run', { source: 'models:/m-other', run_id: second.trackingRunId });
    const result = await admin.prune({ keepLast: 0 });
    const why = `used by registered model 'from-step' version 1 (registered from the run ${s1.register.tracking_run_id} of step 'register')`;
    const kept = Object.fromEntries(result.kept.map((k) => [`${k.name}:${k.version}`, k.reasons]));
    expect(kept['reg/train/output:1']).toEqual([why]); // the model it consumed
    expect(kept['reg/register/output:1']).toEqual([why]); // what it produced
    // The model's lineage back to its data stays queryable.
    expect(kept['reg/prep/output:1']).toContain('upstream of reg/train/output:1, which a registered model uses (lineage)');
    expect(kept['reg/train/output:2']).toEqual([
      `used by run ${second.pipelineRunId} of pipeline 'reg', whose run registered model 'from-run' version 1`,
    ]);
    expect(result.deleted).toEqual([]);
  });

  it('--older-than keeps recent versions; nothing to delete changes nothing', async () => {
    await admin.save('a', 1);
    await admin.save('a', 2);
    const recent = await admin.prune({ keepLast: 0, olderThanMs: parseDuration('1h') });
    expect(recent.deleted).toEqual([]);
    expect(recent.kept.map((k) => k.reasons)).toEqual([['newer than 1h'], ['newer than 1h']]);
    const all = await admin.prune({ keepLast: 0, olderThanMs: 0 });
    expect(all.deleted.map((d) => d.version)).toEqual([1, 2]);
    expect(await versionCount()).toBe(0);
    expect(() => parseDuration('3 days')).toThrow(/Invalid duration/);
    expect(parseDuration('1d12h')).toBe(36 * 3_600_000);
    await expect(admin.prune({ keepLast: -1 })).rejects.toMatchObject({ code: 'INVALID_PARAMETER_VALUE' });
  });
});
