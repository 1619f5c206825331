import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalArtifactRepository } from '../src/artifacts/index.js';
import { ArtifactOutputStore, commandStep, pipeline, runLocal, SqlPipelineStore, step, PipelineDefinitionError } from '../src/pipelines/index.js';
import { LocalFile } from '../src/pipelines/materializers/index.js';
import { startServer, type RunningServer } from '../src/server/index.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

const SCRIPT = 'test/fixtures/command-steps/train.py';

describe.each(DIALECTS)('command steps on %s', (dialect) => {
  let server: RunningServer & { dir: string };
  let ts: TestStore;
  let tracking: SqlTrackingStore;
  let recorder: SqlPipelineStore;
  beforeAll(async () => {
    ts = await freshStore(dialect);
    // The server runs over the recorder's own store, so the script's REST calls land in the same runs.
    const dir = mkdtempSync(join(tmpdir(), 'flywheel-cmd-srv-'));
    server = { ...(await startServer({ backendStoreUri: ts.uri, artifactsDestination: join(dir, 'artifacts'), port: 0, logLevel: 'silent' })), dir };
    tracking = new SqlTrackingStore(ts.store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    recorder = new SqlPipelineStore(ts.store, tracking);
  });
  afterAll(async () => {
    await server?.close();
    await ts?.dispose();
    if (server) rmSync(server.dir, { recursive: true, force: true });
  });

  const data = step('data', () => [1, 2, 3, 4]);
  const train = (extra: string[] = []) =>
    commandStep('train', {
      command: ['python3', SCRIPT, '--data', '{inputs.data}', '--out', '{outputs.model}', '--lr', '{params.lr}', ...extra],
      inputs: ['data'],
      outputs: { model: 'file' },
      params: { lr: 0.5 },
      trackingUri: server.url,
      cache: false,
    });
  const stepsOf = async (id: string) => Object.fromEntries((await recorder.listStepRuns(id)).map((s) => [s.step_name, s]));

  it('runs the program, logs its output, collects its file and logs into the step run', async () => {
    const t = train();
    const p = pipeline('cmd-ok', () => t({ data: data() }));
    const r = await runLocal(p, { recorder });
    expect(r.error).toBeNull();
    expect(r.status).toBe('COMPLETED');
    const out = (await r.value((r.returned as ReturnType<typeof t>).model)) as LocalFile;
    expect(out).toBeInstanceOf(LocalFile);
    expect(JSON.parse(readFileSync(out.path, 'utf8'))).toEqual({ weights: [0.5, 1, 1.5, 2], echo: null });

    const s = (await stepsOf(r.pipelineRunId)).train!;
    expect(s.status).toBe('COMPLETED');
    expect(s.logs).toMatch(/training on 4 rows with lr=0\.5/);
    expect(s.logs).toMatch(/\[stderr\] warning: this is stderr from train\.py/);
    expect(s.logs).toMatch(/logged metric loss/);
    const run = await tracking.getRun(s.tracking_run_id!);
    expect(run.data.metrics).toMatchObject([{ key: 'loss', value: 5, step: 1 }]);
  });

  it('fails with the exit code and stderr when the program exits non-zero', async () => {
    const p = pipeline('cmd-exit', () => void train(['--exit', '3'])({ data: data() }));
    const r = await runLocal(p, { recorder });
    expect(r.status).toBe('FAILED');
    const s = (await stepsOf(r.pipelineRunId)).train!;
    expect(s.status).toBe('FAILED');
    expect(s.error).toMatch(/command 'python3' exited with code 3/);
    expect(s.error).toMatch(/fatal: bad data \(exit 3\)/);
    expect(r.error).toMatch(/exited with code 3/);
  });

  it('fails naming a declared output the program did not write', async () => {
    const p = pipeline('cmd-noout', () => void train(['--no-output'])({ data: data() }));
    const r = await runLocal(p, { recorder });
    expect(r.status).toBe('FAILED');
    const s = (await stepsOf(r.pipelineRunId)).train!;
    expect(s.error).toMatch(/wrote no output 'model'/);
  });

  it('passes arguments with shell metacharacters verbatim (no shell)', async () => {
    const evil = 'x; rm -rf x && echo $HOME `id` | cat > y';
    const t = commandStep('echo', {
      command: ['python3', SCRIPT, '--data', '{inputs.data}', '--out', '{outputs.model}', '--lr', '1', '--echo', '{params.arg}'],
      inputs: ['data'],
      outputs: { model: 'json' },
      params: { arg: evil },
      cache: false,
    });
    const p = pipeline('cmd-meta', () => t({ data: data() }));
    const r = await runLocal(p, { recorder });
    expect(r.error).toBeNull();
    expect(await r.value((r.returned as ReturnType<typeof t>).model)).toEqual({ weights: [1, 2, 3, 4], echo: evil });
  });

  it('collects text outputs and kills the program on timeout', async () => {
    const t = commandStep('sleepy', {
      command: ['python3', '-c', 'import sys,time; open(sys.argv[1],"w").write("hi"); time.sleep(30)', '{outputs.msg}'],
      outputs: { msg: 'text' },
      timeoutMs: 300,
      cache: false,
    });
    const started = Date.now();
    const r = await runLocal(pipeline('cmd-timeout', () => void t()), { recorder });
    expect(r.status).toBe('FAILED');
    expect(r.error).toMatch(/timed out after 300 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);

    const ok = commandStep('texty', {
      command: ['python3', '-c', 'import sys; open(sys.argv[1],"w").write("hello")', '{outputs.msg}'],
      outputs: { msg: 'text' },
      cache: false,
    });
    const r2 = await runLocal(pipeline('cmd-text', () => ok()), { recorder });
    expect(await r2.value((r2.returned as ReturnType<typeof ok>).msg)).toBe('hello');
  });

  const workDirOf = (logs: string) => /work directory: (\S+)/.exec(logs)?.[1];

  it('passes MLFLOW_EXPERIMENT_ID (the experiment of the step run) with MLFLOW_RUN_ID', async () => {
    const t = commandStep('envy', {
      command: [
        'python3',
        '-c',
        'import os,sys; print("EXP=" + os.environ.get("MLFLOW_EXPERIMENT_ID", "-")); print("RUN=" + os.environ.get("MLFLOW_RUN_ID", "-")); open(sys.argv[1], "w").write("x")',
        '{outputs.o}',
      ],
      outputs: { o: 'text' },
      cache: false,
    });
    const r = await runLocal(pipeline('cmd-env', () => t()), { recorder });
    expect(r.error).toBeNull();
    const s = (await stepsOf(r.pipelineRunId)).envy!;
    const run = await tracking.getRun(s.tracking_run_id!);
    expect(run.info.experiment_id).toBe((await tracking.getExperimentByName('cmd-env')).experiment_id);
    expect(s.logs.split('\n').map((l) => l.replace(/^\S+ /, ''))).toEqual(
      expect.arrayContaining([`EXP=${run.info.experiment_id}`, `RUN=${s.tracking_run_id}`]),
    );
  });

  it('removes the work directory once the outputs are stored as artifacts, and a failed one unless keepWorkDir', async () => {
    const repoDir = mkdtempSync(join(tmpdir(), 'flywheel-cmd-repo-'));
    try {
      const outputStore = new ArtifactOutputStore({ store: ts.store, repository: new LocalArtifactRepository(repoDir) });
      const t = train();
      const r = await runLocal(pipeline('cmd-clean', () => t({ data: data() })), { recorder, outputStore });
      expect(r.error).toBeNull();
      const s = (await stepsOf(r.pipelineRunId)).train!;
      const work = workDirOf(s.logs);
      expect(work).toBeDefined();
      expect(existsSync(work!)).toBe(false);
      const model = (await r.value((r.returned as ReturnType<typeof t>).model)) as LocalFile;
      expect(JSON.parse(readFileSync(model.path, 'utf8'))).toEqual({ weights: [0.5, 1, 1.5, 2], echo: null });

      const failing = (keepWorkDir: boolean) =>
        commandStep('train', {
          command: ['python3', SCRIPT, '--data', '{inputs.data}', '--out', '{outputs.model}', '--lr', '1', '--exit', '2'],
          inputs: ['data'],
          outputs: { model: 'file' },
          keepWorkDir,
          cache: false,
        });
      for (const keep of [false, true]) {
        const f = failing(keep);
        const fr = await runLocal(pipeline(`cmd-keep-${keep}`, () => void f({ data: data() })), { recorder, outputStore });
        expect(fr.status).toBe('FAILED');
        const fs = (await stepsOf(fr.pipelineRunId)).train!;
        const dir = workDirOf(fs.logs)!;
        expect(existsSync(dir)).toBe(keep);
        if (keep) {
          expect(fs.logs).toContain(`work directory kept: ${dir}`);
          rmSync(dir, { recursive: true, force: true });
        }
      }
    } finally {
      rmSync(repoDir, { recursive: true, force: true });
    }
  });

  it('rejects bad definitions', () => {
    expect(() => commandStep('bad', { command: [], outputs: { a: 'file' } })).toThrow(PipelineDefinitionError);
    expect(() => commandStep('bad', { command: ['x', '{inputs.nope}'], outputs: { a: 'file' } })).toThrow(/undeclared input/);
    expect(() => commandStep('bad', { command: ['x', '{outputs.nope}'], outputs: { a: 'file' } })).toThrow(/undeclared output/);
    expect(() => commandStep('bad', { command: ['x'], outputs: {} })).toThrow(/at least one output/);
  });
});
