import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pipeline, runLocal, SqlPipelineStore, step } from '../src/pipelines/index.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

const SRC = resolve(import.meta.dirname, '../src');
const tempDirs: string[] = [];

/** A process that runs a one-step pipeline whose step never ends (and ignores its abort signal). */
function script(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flywheel-psig-'));
  tempDirs.push(dir);
  const file = join(dir, 'run.mts');
  writeFileSync(
    file,
    `import { openStore } from ${JSON.stringify(`${SRC}/store/index.js`)};
import { SqlTrackingStore } from ${JSON.stringify(`${SRC}/tracking/index.js`)};
import { pipeline, runLocal, SqlPipelineStore, step } from ${JSON.stringify(`${SRC}/pipelines/index.js`)};
const store = openStore(process.argv[2]);
const recorder = new SqlPipelineStore(store, new SqlTrackingStore(store, { defaultArtifactRoot: 'mlflow-artifacts:/' }));
const wait = step('wait', async (_i: {}, ctx) => {
  ctx.log('working on it');
  console.log('STARTED');
  await new Promise((r) => setTimeout(r, 60_000));
});
const after = step('after', (_i: { x: void }) => 1);
await runLocal(pipeline('sig', () => void after({ x: wait() })), { recorder, handleSignals: true });
console.log('NOT REACHED');
`,
  );
  return file;
}

/**
 * Runs the script until its step starts (and `ready` holds, when given), sends `signal`, and resolves with
 * how the process ended.
 */
function runAndSignal(
  uri: string,
  signal: NodeJS.Signals,
  ready?: () => Promise<boolean>,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script(), uri], { cwd: resolve(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let sent = false;
  const send = async () => {
    sent = true;
    const deadline = Date.now() + 20_000;
    while (ready && !(await ready()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill(signal);
  };
  return new Promise((done, fail) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('STARTED') && !sent) void send().catch(fail);
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', fail);
    child.on('exit', (code, sig) => done({ code, signal: sig, out }));
  });
}

describe.each(DIALECTS)('pipeline runs and process signals on %s', (dialect) => {
  let ts: TestStore;
  let tracking: SqlTrackingStore;
  let recorder: SqlPipelineStore;
  beforeEach(async () => {
    ts = await freshStore(dialect);
    tracking = new SqlTrackingStore(ts.store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    recorder = new SqlPipelineStore(ts.store, tracking);
  });
  afterEach(async () => {
    await ts.dispose();
    for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const onlyRun = async () => {
    const runs = await ts.store.db.selectFrom('pipeline_runs').select('id').execute();
    expect(runs).toHaveLength(1);
    const run = await recorder.getPipelineRun(runs[0].id);
    return { run, steps: Object.fromEntries((await recorder.listStepRuns(run.id)).map((s) => [s.step_name, s])) };
  };

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`${sig}: the run ends CANCELLED (tracking runs KILLED) and the process exits by the signal`, async () => {
      const r = await runAndSignal(ts.uri, sig);
      expect(r.out).not.toContain('NOT REACHED');
      expect(r.signal, r.out).toBe(sig);
      const { run, steps } = await onlyRun();
      expect(run).toMatchObject({ status: 'CANCELLED', error: `cancelled: received ${sig}` });
      expect(steps.wait).toMatchObject({ status: 'CANCELLED', error: `StepCancelledError: step 'wait' cancelled: received ${sig}` });
      expect(steps.after.status).toBe('SKIPPED');
      expect((await tracking.getRun(run.tracking_run_id!)).info.status).toBe('KILLED');
      expect((await tracking.getRun(steps.wait.tracking_run_id!)).info.status).toBe('KILLED');
    }, 30_000);
  }

  it('SIGKILL (a crash): the next orchestrator start marks the run and the step FAILED interrupted, keeping the logs so far', async () => {
    // Killed once the step's first log line has been streamed to the store.
    const logged = async () =>
      (await ts.store.db.selectFrom('step_runs').select('logs').where('step_name', '=', 'wait').executeTakeFirst())?.logs.includes('working on it') ?? false;
    const r = await runAndSignal(ts.uri, 'SIGKILL', logged);
    expect(r.signal, r.out).toBe('SIGKILL');
    expect((await onlyRun()).run.status).toBe('RUNNING');
    const next = await runLocal(pipeline('after-crash', () => void step('x', () => 1)()), { recorder });
    expect(next.status).toBe('COMPLETED');
    const runs = await ts.store.db.selectFrom('pipeline_runs').select('id').where('pipeline_name', '=', 'sig').execute();
    const run = await recorder.getPipelineRun(runs[0].id);
    const steps = Object.fromEntries((await recorder.listStepRuns(run.id)).map((s) => [s.step_name, s]));
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatch(/^interrupted: the orchestrator process \(pid \d+ on .+\) ended while the run was RUNNING$/);
    expect(run.end_time).not.toBeNull();
    expect(steps.wait).toMatchObject({ status: 'FAILED', error: run.error });
    expect(steps.wait.end_time).not.toBeNull();
    expect(steps.wait.logs).toMatch(/working on it/);
    expect(steps.after).toBeUndefined(); // never started: no step run
    expect((await tracking.getRun(run.tracking_run_id!)).info.status).toBe('FAILED');
    expect((await tracking.getRun(steps.wait.tracking_run_id!)).info.status).toBe('FAILED');
    expect((await tracking.getRun(steps.wait.tracking_run_id!)).info.end_time).not.toBeNull();
  }, 30_000);
});
