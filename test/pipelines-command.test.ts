import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandStep, pipeline, runLocal, SqlPipelineStore, step, PipelineDefinitionError } from '../src/pipelines/index.js';
import { LocalFile } from '../src/pipelines/materializers/index.js';
import { openStore, type Store } from '../src/store/index.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const SCRIPT = 'test/fixtures/command-steps/train.py';

describe('command steps', () => {
  let server: TestServer;
  let store: Store;
  let tracking: SqlTrackingStore;
  let recorder: SqlPipelineStore;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
    // The recorder writes to the server's own SQLite file, so the script's REST calls land in the same runs.
    store = openStore(`sqlite:${join(dirname(server.artifactsDir), 'flywheel.db')}`);
    tracking = new SqlTrackingStore(store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    recorder = new SqlPipelineStore(store, tracking);
  });
  afterAll(async () => {
    await store?.close();
    await server?.close();
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

  it('rejects bad definitions', () => {
    expect(() => commandStep('bad', { command: [], outputs: { a: 'file' } })).toThrow(PipelineDefinitionError);
    expect(() => commandStep('bad', { command: ['x', '{inputs.nope}'], outputs: { a: 'file' } })).toThrow(/undeclared input/);
    expect(() => commandStep('bad', { command: ['x', '{outputs.nope}'], outputs: { a: 'file' } })).toThrow(/undeclared output/);
    expect(() => commandStep('bad', { command: ['x'], outputs: {} })).toThrow(/at least one output/);
  });
});
