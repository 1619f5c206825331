import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  pipeline,
  PipelineDefinitionError,
  runLocal,
  SqlPipelineStore,
  step,
  type ProgressEvent,
  type StepHookInfo,
} from '../src/pipelines/index.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    });
  });

describe.each(DIALECTS)('local orchestrator on %s', (dialect) => {
  let ts: TestStore;
  let tracking: SqlTrackingStore;
  let recorder: SqlPipelineStore;
  beforeEach(async () => {
    ts = await freshStore(dialect);
    tracking = new SqlTrackingStore(ts.store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    await tracking.ensureDefaultExperiment();
    recorder = new SqlPipelineStore(ts.store, tracking);
  });
  afterEach(() => ts.dispose());

  /** No pipeline run, step run or tracking run is left RUNNING. */
  async function expectNothingRunning(): Promise<void> {
    const db = ts.store.db;
    expect(await db.selectFrom('pipeline_runs').select('id').where('status', '=', 'RUNNING').execute()).toEqual([]);
    expect(await db.selectFrom('step_runs').select(['step_name', 'status']).where('status', '=', 'RUNNING').execute()).toEqual([]);
    expect(await db.selectFrom('runs').select('name').where('status', '=', 'RUNNING').execute()).toEqual([]);
    expect(await db.selectFrom('step_runs').select('id').where('end_time', 'is', null).execute()).toEqual([]);
  }

  const stepsByName = async (pipelineRunId: string) =>
    Object.fromEntries((await recorder.listStepRuns(pipelineRunId)).map((s) => [s.step_name, s]));

  it('records the pipeline run, step runs and nested tracking runs', async () => {
    const load = step('load', (_i: {}, ctx) => {
      ctx.log('loading %d rows', ctx.params.rows);
      return Array.from({ length: ctx.params.rows }, (_, i) => i);
    }, { params: { rows: 4 } });
    const split = step('split', (i: { data: number[] }) => ({ train: i.data.slice(1), test: i.data.slice(0, 1) }), {
      outputs: ['train', 'test'],
    });
    const fit = step('fit', async (i: { train: number[]; test: number[] }, ctx) => {
      await ctx.logMetric('loss', 0.25, 1);
      return { w: i.train.length * ctx.params.lr, n: i.test.length };
    }, { params: { lr: 0.5 } });
    const p = pipeline('train-pipe', (params) => {
      const { train, test } = split({ data: load({}, { params: { rows: params.rows } }) });
      return fit({ train, test });
    }, { params: { rows: 5 } });

    const r = await runLocal(p, { recorder, params: { rows: 6 } });
    expect(r.status).toBe('COMPLETED');
    expect(r.error).toBeNull();
    expect(await r.value(r.returned as ReturnType<typeof fit>)).toEqual({ w: 2.5, n: 1 });

    const run = await recorder.getPipelineRun(r.pipelineRunId);
    expect(run).toMatchObject({ pipeline_name: 'train-pipe', status: 'COMPLETED', params: { rows: 6 }, error: null, pid: process.pid });
    expect(run.end_time).toBeGreaterThanOrEqual(run.start_time);
    const pipelineTracking = await tracking.getRun(run.tracking_run_id!);
    expect(pipelineTracking.info.status).toBe('FINISHED');
    expect((await tracking.getExperimentByName('train-pipe')).experiment_id).toBe(pipelineTracking.info.experiment_id);
    expect(pipelineTracking.data.params).toEqual([{ key: 'rows', value: '6' }]);

    const steps = await stepsByName(r.pipelineRunId);
    expect(Object.keys(steps).sort()).toEqual(['fit', 'load', 'split']);
    for (const s of Object.values(steps)) {
      expect(s).toMatchObject({ status: 'COMPLETED', attempts: 1, error: null });
      expect(s.code_hash).toMatch(/^[0-9a-f]{64}$/);
      const t = await tracking.getRun(s.tracking_run_id!);
      expect(t.info.status).toBe('FINISHED');
      expect(t.info.run_name).toBe(s.step_name);
      expect(t.info.experiment_id).toBe(pipelineTracking.info.experiment_id);
      expect(t.data.tags).toContainEqual({ key: 'mlflow.parentRunId', value: run.tracking_run_id });
    }
    expect(steps.load.params).toEqual({ rows: 6 });
    expect(steps.load.logs).toMatch(/loading 6 rows/);
    expect(steps.fit.params).toEqual({ lr: 0.5 });
    expect(steps.fit.inputs).toEqual({ train: { step: 'split', output: 'train' }, test: { step: 'split', output: 'test' } });
    expect(Object.keys(steps.split.outputs!)).toEqual(['train', 'test']);
    const fitRun = await tracking.getRun(steps.fit.tracking_run_id!);
    expect(fitRun.data.metrics).toMatchObject([{ key: 'loss', value: 0.25, step: 1 }]);
    expect(fitRun.data.params).toEqual([{ key: 'lr', value: '0.5' }]);
    await expectNothingRunning();
  });

  it('runs independent steps in parallel up to the concurrency limit', async () => {
    const slow = step('slow', async (_i: {}, ctx) => {
      await sleep(120);
      return ctx.stepName;
    });
    const p = pipeline('par', () => {
      slow({}, { name: 'a' });
      slow({}, { name: 'b' });
    });
    const overlap = (x: { start_time: number; end_time: number | null }, y: { start_time: number; end_time: number | null }) =>
      x.start_time < y.end_time! && y.start_time < x.end_time!;

    const par = await runLocal(p, { recorder, concurrency: 2 });
    const s2 = await stepsByName(par.pipelineRunId);
    expect(overlap(s2.a, s2.b)).toBe(true);

    const seq = await runLocal(p, { recorder, concurrency: 1 });
    const s1 = await stepsByName(seq.pipelineRunId);
    expect(overlap(s1.a, s1.b)).toBe(false);
    expect(s1.b.start_time).toBeGreaterThanOrEqual(s1.a.end_time!);
    await expectNothingRunning();
  });

  it('retries with backoff until success, and records the attempts', async () => {
    let calls = 0;
    const flaky = step('flaky', (_i: {}, ctx) => {
      calls++;
      if (ctx.attempt < 3) throw new Error(`transient ${ctx.attempt}`);
      return 'ok';
    }, { retries: 3, retryBackoffMs: 5 });
    const r = await runLocal(pipeline('retry', () => void flaky()), { recorder });
    expect(r.status).toBe('COMPLETED');
    expect(calls).toBe(3);
    const s = (await stepsByName(r.pipelineRunId)).flaky;
    expect(s).toMatchObject({ status: 'COMPLETED', attempts: 3, error: null });
    expect(s.logs).toMatch(/attempt 1\/4 failed: Error: transient 1/);
    expect(s.logs).toMatch(/retrying in 5 ms[\s\S]*attempt 2\/4 failed[\s\S]*retrying in 10 ms/);
    await expectNothingRunning();
  });

  it('fails a step past its timeout with a clear error, aborting its signal', async () => {
    let aborted = false;
    const slow = step('slow', async (_i: {}, ctx) => {
      ctx.signal.addEventListener('abort', () => (aborted = true));
      await new Promise(() => undefined); // never settles, ignores the signal
    }, { timeoutMs: 40 });
    const after = step('after', (_i: { x: void }) => 1);
    const r = await runLocal(pipeline('timeout', () => void after({ x: slow() })), { recorder });
    expect(r.status).toBe('FAILED');
    expect(aborted).toBe(true);
    expect(r.error).toBe("step 'slow' failed: StepTimeoutError: step 'slow' timed out after 40 ms");
    const steps = await stepsByName(r.pipelineRunId);
    expect(steps.slow).toMatchObject({ status: 'FAILED', error: "StepTimeoutError: step 'slow' timed out after 40 ms", attempts: 1 });
    expect(steps.after.status).toBe('SKIPPED');
    expect((await tracking.getRun(steps.slow.tracking_run_id!)).info.status).toBe('FAILED');
    const run = await recorder.getPipelineRun(r.pipelineRunId);
    expect(run.status).toBe('FAILED');
    expect((await tracking.getRun(run.tracking_run_id!)).info.status).toBe('FAILED');
    await expectNothingRunning();
  });

  it('applies config overrides at run time (parameters, step params, retries, timeouts)', async () => {
    let seen: unknown;
    let calls = 0;
    const work = step('work', (_i: {}, ctx) => {
      calls++;
      seen = ctx.params;
      if (calls === 1) throw new Error('first');
      return 1;
    }, { params: { depth: 1, lr: 0.1 } });
    const p = pipeline('cfg', (params) => void work({}, { params: { depth: params.depth } }), { params: { depth: 2 } });
    const r = await runLocal(p, {
      recorder,
      config: { parameters: { depth: 7 }, steps: { work: { params: { lr: 0.9 }, retries: 1, retryBackoffMs: 1 } } },
    });
    expect(r.status).toBe('COMPLETED');
    expect(seen).toEqual({ depth: 7, lr: 0.9 });
    expect((await recorder.getPipelineRun(r.pipelineRunId)).params).toEqual({ depth: 7 });
    expect((await stepsByName(r.pipelineRunId)).work).toMatchObject({ params: { depth: 7, lr: 0.9 }, attempts: 2 });

    await expect(runLocal(p, { recorder, config: { steps: { wrok: { retries: 1 } } } })).rejects.toThrow(/config names unknown step 'wrok'/);
  });

  it('failFast skips everything not started; continueOnFailure skips only downstream', async () => {
    const boom = step('boom', () => {
      throw new Error('kaput');
    });
    const ok = step('ok', () => 1);
    const use = step('use', (_i: { x: unknown }) => 2);
    const p = pipeline('modes', () => {
      const b = boom();
      use({ x: b }, { name: 'down' });
      const o = ok();
      use({ x: o }, { name: 'other' });
    });

    const ff = await runLocal(p, { recorder, concurrency: 1, mode: 'failFast' });
    expect(ff.status).toBe('FAILED');
    expect(Object.fromEntries(Object.values(ff.steps).map((s) => [s.name, s.status]))).toEqual({
      boom: 'FAILED',
      down: 'SKIPPED',
      ok: 'SKIPPED',
      other: 'SKIPPED',
    });
    expect(ff.steps.ok.error).toBe("not started: step 'boom' failed (failFast)");

    const cf = await runLocal(p, { recorder, concurrency: 1, mode: 'continueOnFailure' });
    expect(cf.status).toBe('FAILED');
    expect(cf.error).toBe("step 'boom' failed: Error: kaput");
    const steps = await stepsByName(cf.pipelineRunId);
    expect(Object.fromEntries(Object.values(steps).map((s) => [s.step_name, s.status]))).toEqual({
      boom: 'FAILED',
      down: 'SKIPPED',
      ok: 'COMPLETED',
      other: 'COMPLETED',
    });
    expect(steps.down.error).toBe("upstream step 'boom' failed");
    expect(steps.down.tracking_run_id).toBeNull();
    expect(steps.boom.logs).toMatch(/Error: kaput\n\s+at /); // the stack is in the logs
    await expectNothingRunning();
  });

  it('reports progress: the DAG, each state change with durations, then the outcome', async () => {
    let tries = 0;
    const flaky = step('flaky', async () => {
      if (++tries < 2) throw new Error('once');
      await sleep(20);
      return 1;
    }, { retries: 1, retryBackoffMs: 1 });
    const use = step('use', (_i: { x: unknown }) => 2);
    const p = pipeline('progress', () => {
      use({ x: flaky() });
    });
    const events: ProgressEvent[] = [];
    const r = await runLocal(p, { recorder, onProgress: (e) => events.push(e) });
    expect(r.status).toBe('COMPLETED');
    expect(events[0]).toMatchObject({ type: 'run-started', pipelineRunId: r.pipelineRunId, pipelineName: 'progress' });
    expect(events[0].type === 'run-started' && events[0].steps).toEqual([
      { name: 'flaky', upstream: [] },
      { name: 'use', upstream: ['flaky'] },
    ]);
    const steps = events.filter((e) => e.type === 'step').map((e) => [e.name, e.status, e.attempt]);
    expect(steps).toEqual([
      ['flaky', 'RUNNING', 1],
      ['flaky', 'RUNNING', 2],
      ['flaky', 'COMPLETED', 2],
      ['use', 'RUNNING', 1],
      ['use', 'COMPLETED', 1],
    ]);
    const done = events.find((e) => e.type === 'step' && e.name === 'flaky' && e.status === 'COMPLETED');
    expect(done?.type === 'step' && done.durationMs).toBeGreaterThanOrEqual(15);
    expect(events.at(-1)).toMatchObject({ type: 'run-finished', status: 'COMPLETED', error: null });

    // A throwing listener does not break the run.
    const r2 = await runLocal(p, { recorder, onProgress: () => { throw new Error('listener'); } });
    expect(r2.status).toBe('COMPLETED');
  });

  it('calls step and run hooks; a throwing hook is logged, not fatal', async () => {
    const calls: string[] = [];
    const note = (what: string) => (info: StepHookInfo) => void calls.push(`${what}:${info.stepName}:${info.attempts}`);
    const good = step('good', () => 1, {
      onSuccess: (info, out) => {
        calls.push(`step-success:${info.stepName}:${out}`);
        throw new Error('hook broke');
      },
    });
    const bad = step('bad', () => {
      throw new Error('no');
    }, { retries: 1, retryBackoffMs: 1, onFailure: (info, e) => void calls.push(`step-failure:${info.stepName}:${e.message}`) });
    const r = await runLocal(pipeline('hooks', () => {
      good();
      bad();
    }), { recorder, concurrency: 1, mode: 'continueOnFailure', hooks: { onSuccess: note('run-success'), onFailure: note('run-failure') } });
    expect(calls).toEqual(['step-success:good:1', 'run-success:good:1', 'step-failure:bad:no', 'run-failure:bad:2']);
    const steps = await stepsByName(r.pipelineRunId);
    expect(steps.good.status).toBe('COMPLETED');
    expect(steps.good.logs).toMatch(/onSuccess hook failed: Error: hook broke/);
  });

  it('records a cyclic pipeline as a FAILED run with the cycle, and throws', async () => {
    const s = step('s', () => 1);
    const p = pipeline('cyc', () => {
      const a = s({}, { name: 'a', after: ['b'] });
      s({}, { name: 'b', after: [a] });
    });
    await expect(runLocal(p, { recorder })).rejects.toThrow(PipelineDefinitionError);
    const runs = await ts.store.db.selectFrom('pipeline_runs').selectAll().where('pipeline_name', '=', 'cyc').execute();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'FAILED', error: "PipelineDefinitionError: pipeline 'cyc' has a cycle: a -> b -> a" });
    expect(await ts.store.db.selectFrom('step_runs').select('id').execute()).toEqual([]);
    await expectNothingRunning();
  });

  it('cancels on abort: running steps CANCELLED, pending SKIPPED, run CANCELLED, tracking runs KILLED', async () => {
    const ac = new AbortController();
    const long = step('long', async (_i: {}, ctx) => {
      setTimeout(() => ac.abort('user pressed Ctrl-C'), 20);
      await sleep(10_000, ctx.signal);
    });
    const next = step('next', (_i: { x: void }) => 1);
    const r = await runLocal(pipeline('cancel', () => void next({ x: long() })), { recorder, signal: ac.signal });
    expect(r.status).toBe('CANCELLED');
    expect(r.error).toBe('cancelled: user pressed Ctrl-C');
    const steps = await stepsByName(r.pipelineRunId);
    expect(steps.long).toMatchObject({ status: 'CANCELLED', error: "StepCancelledError: step 'long' cancelled: user pressed Ctrl-C" });
    expect(steps.next).toMatchObject({ status: 'SKIPPED', error: 'run cancelled (user pressed Ctrl-C)' });
    expect((await tracking.getRun(steps.long.tracking_run_id!)).info.status).toBe('KILLED');
    expect((await tracking.getRun(r.trackingRunId!)).info.status).toBe('KILLED');
    await expectNothingRunning();
  });

  /** Polls `check` until it holds (the orchestrator writes on its own timers); fails after `ms`. */
  async function eventually(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(5);
    }
  }

  it('streams the log lines of a running step to its step run, and writes them once in the end', async () => {
    const chatty = step('chatty', async (_i: {}, ctx) => {
      ctx.log('first line');
      // The line is in the store while the step still runs (a viewer sees it; a crash keeps it).
      await eventually(async () => (await stepsByName(ctx.pipelineRunId)).chatty?.logs.includes('first line') ?? false, 'the streamed log');
      const during = (await stepsByName(ctx.pipelineRunId)).chatty;
      ctx.log('second line');
      return during.status;
    });
    const r = await runLocal(pipeline('logs', () => chatty()), { recorder, logFlushMs: 5 });
    expect(r.status).toBe('COMPLETED');
    expect(await r.value(r.returned as ReturnType<typeof chatty>)).toBe('RUNNING');
    const logs = (await stepsByName(r.pipelineRunId)).chatty.logs;
    expect(logs.match(/first line/g)).toHaveLength(1);
    expect(logs).toMatch(/first line\n.*second line$/);
    await expectNothingRunning();
  });

  it('beats while running, and sweeps runs of any host whose heartbeat is stale', async () => {
    const beats = step('beats', async (_i: {}, ctx) => {
      const started = (await recorder.getPipelineRun(ctx.pipelineRunId)).heartbeat!;
      await eventually(async () => (await recorder.getPipelineRun(ctx.pipelineRunId)).heartbeat! > started, 'a heartbeat');
      return 1;
    });
    expect((await runLocal(pipeline('alive', () => beats()), { recorder, heartbeatMs: 5 })).status).toBe('COMPLETED');

    const staleRecorder = new SqlPipelineStore(ts.store, tracking, { staleAfterMs: 60_000 });
    const stale = await staleRecorder.startPipelineRun('elsewhere', {});
    const stepRun = await staleRecorder.startStepRun({
      pipelineRunId: stale.id,
      parentTrackingRunId: stale.trackingRunId,
      stepName: 'midway',
      status: 'RUNNING',
      params: {},
      codeHash: null,
      inputs: {},
    });
    const lastBeat = Date.now() - 120_000;
    await ts.store.db.updateTable('pipeline_runs').set({ hostname: 'another-host', pid: 1, heartbeat: lastBeat }).where('id', '=', stale.id).execute();
    const fresh = await staleRecorder.startPipelineRun('elsewhere', {});
    await ts.store.db.updateTable('pipeline_runs').set({ hostname: 'another-host', pid: 1 }).where('id', '=', fresh.id).execute();

    const r = await runLocal(pipeline('next', () => void step('x', () => 1)()), { recorder: staleRecorder });
    expect(r.status).toBe('COMPLETED');
    const swept = await recorder.getPipelineRun(stale.id);
    expect(swept.status).toBe('FAILED');
    expect(swept.error).toBe(
      `interrupted (no heartbeat since ${new Date(lastBeat).toISOString()}): the orchestrator (pid 1 on another-host) stopped while the run was RUNNING`,
    );
    const [s] = await recorder.listStepRuns(stale.id);
    expect(s).toMatchObject({ id: stepRun.id, status: 'FAILED', error: swept.error });
    expect((await tracking.getRun(stepRun.trackingRunId!)).info.status).toBe('FAILED');
    expect((await tracking.getRun(stale.trackingRunId!)).info.status).toBe('FAILED');
    expect((await recorder.getPipelineRun(fresh.id)).status).toBe('RUNNING');
  });

  it('sweeps runs left RUNNING by a dead process on this host, and leaves live ones', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const stale = await recorder.startPipelineRun('crashed', { a: 1 });
    const stepRun = await recorder.startStepRun({
      pipelineRunId: stale.id,
      parentTrackingRunId: stale.trackingRunId,
      stepName: 'midway',
      status: 'RUNNING',
      params: {},
      codeHash: null,
      inputs: {},
    });
    await ts.store.db.updateTable('pipeline_runs').set({ pid: dead }).where('id', '=', stale.id).execute();
    const live = await recorder.startPipelineRun('live', {}); // this process: alive

    const r = await runLocal(pipeline('next', () => void step('x', () => 1)()), { recorder });
    expect(r.status).toBe('COMPLETED');
    const swept = await recorder.getPipelineRun(stale.id);
    expect(swept.status).toBe('FAILED');
    expect(swept.error).toMatch(new RegExp(`^interrupted: the orchestrator process \\(pid ${dead} on .+\\) ended`));
    expect(swept.end_time).not.toBeNull();
    const [s] = await recorder.listStepRuns(stale.id);
    expect(s).toMatchObject({ id: stepRun.id, status: 'FAILED' });
    expect(s.error).toMatch(/^interrupted/);
    expect((await tracking.getRun(stepRun.trackingRunId!)).info.status).toBe('FAILED');
    expect((await tracking.getRun(stale.trackingRunId!)).info.status).toBe('FAILED');
    expect((await recorder.getPipelineRun(live.id)).status).toBe('RUNNING');
    expect(await recorder.sweepInterrupted()).toEqual([]);
  });
});
