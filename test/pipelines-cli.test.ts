import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import type { ProgressEvent } from '../src/pipelines/index.js';
import { formatDuration, ProgressModel, progressLine, renderProgress } from '../src/pipelines/progress-view.js';
import { startServer } from '../src/server/index.js';
import { openStore } from '../src/store/index.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const API = JSON.stringify(join(REPO, 'src/pipelines/index.js'));

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

const ENV_KEYS = ['FLYWHEEL_TRACKING_URI', 'MLFLOW_TRACKING_URI', 'FLYWHEEL_ARTIFACTS_DESTINATION'] as const;
const savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
afterEach(() => {
  // `pipeline run` points these at its store for the steps; keep tests independent.
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flywheel-pipeline-cli-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'cli-fixtures', private: true, type: 'module' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

const NUMBERS = `
import { pipeline, step } from ${API};
const a = step('a', (_: {}, ctx) => (ctx.params.n as number) * 2, { params: { n: 1 } });
const b = step('b', (i: { x: number }, ctx) => {
  if (ctx.params.fail) throw new Error('boom in b');
  ctx.log('b saw', i.x);
  return i.x + 1;
}, { params: { fail: false } });
const c = step('c', (i: { x: number }) => i.x * 10);
const d = step('d', () => 'independent');
export const numbers = pipeline('cli-numbers', (p) => {
  const y = b({ x: a({}, { params: { n: p.n } }) }, { params: { fail: p.fail } });
  d();
  return c({ x: y });
}, { params: { n: 2, fail: false } });
`;

describe('pipeline progress view (rendering)', () => {
  const t0 = 1_700_000_000_000;
  const events: ProgressEvent[] = [
    { type: 'run-started', pipelineRunId: 'r1', pipelineName: 'demo', at: t0, steps: [
      { name: 'load', upstream: [] }, { name: 'split', upstream: ['load'] }, { name: 'train', upstream: ['split'] },
      { name: 'eval', upstream: ['train'] }, { name: 'side', upstream: [] },
    ] },
    { type: 'step', name: 'load', status: 'CACHED', at: t0 + 10, durationMs: 0, cache: { hit: true, key: 'k', previousKey: 'k', reasons: ['all key parts unchanged'], diff: [] } as never },
    { type: 'step', name: 'split', status: 'RUNNING', at: t0 + 20, attempt: 1 },
    { type: 'step', name: 'side', status: 'RUNNING', at: t0 + 30, attempt: 1 },
    { type: 'step', name: 'split', status: 'COMPLETED', at: t0 + 1520, durationMs: 1500 },
    { type: 'step', name: 'side', status: 'FAILED', at: t0 + 2030, durationMs: 2000, error: 'Error: disk full\n  at x' },
    { type: 'step', name: 'train', status: 'RUNNING', at: t0 + 1600, attempt: 2 },
  ];
  const model = () => {
    const m = new ProgressModel();
    for (const e of events) m.apply(e);
    return m;
  };

  it('lists every step with its state, elapsed time or duration, and a counts line', () => {
    expect(renderProgress(model(), { now: t0 + 5600 })).toBe(
      [
        'pipeline demo (run r1)',
        '≡ load   cached    cached',
        '✔ split  done      1.5s',
        '▶ train  running   4.0s (attempt 2)',
        '· eval   pending',
        '✖ side   failed    2.0s  Error: disk full',
        '1 pending · 1 running · 1 cached · 1 done · 1 failed  (5 steps, 5.6s)',
      ].join('\n'),
    );
  });

  it('colours states on a terminal and cuts long lines to the width', () => {
    const text = renderProgress(model(), { now: t0 + 5600, color: true, columns: 20 });
    expect(text).toContain('\u001b[32m✔\u001b[39m');
    for (const line of text.split('\n')) expect(line.replace(/\u001b\[[0-9;]*m/g, '').length).toBeLessThanOrEqual(20);
  });

  it('shows running and recently finished steps when the DAG is taller than the terminal', () => {
    const m = new ProgressModel();
    m.apply({ type: 'run-started', pipelineRunId: 'big', pipelineName: 'wide', at: t0, steps: Array.from({ length: 200 }, (_, i) => ({ name: `s${i}`, upstream: [] })) });
    for (let i = 0; i < 50; i++) m.apply({ type: 'step', name: `s${i}`, status: 'COMPLETED', at: t0 + i, durationMs: 5 });
    m.apply({ type: 'step', name: 's50', status: 'RUNNING', at: t0 + 60 });
    const lines = renderProgress(m, { now: t0 + 100, rows: 10 }).split('\n');
    expect(lines.length).toBeLessThanOrEqual(10);
    expect(lines[0]).toBe('pipeline wide (run big)');
    expect(lines.some((l) => l.startsWith('▶ s50'))).toBe(true);
    expect(lines.some((l) => l.startsWith('✔ s49'))).toBe(true);
    expect(lines.some((l) => l.startsWith('✔ s0 '))).toBe(false);
    expect(lines.at(-2)).toMatch(/more steps not shown/);
    expect(lines.at(-1)).toMatch(/^149 pending · 1 running · 50 done {2}\(200 steps/);
  });

  it('prints one plain line per state change off a terminal', () => {
    const m = new ProgressModel();
    const lines = events.map((e) => (m.apply(e), progressLine(e, m)));
    expect(lines).toEqual([
      'pipeline demo: run r1, 5 steps',
      'load: cached (all key parts unchanged)',
      'split: running',
      'side: running',
      'split: done in 1.5s',
      'side: failed after 2.0s: Error: disk full',
      'train: running (attempt 2)',
    ]);
    expect(formatDuration(59_900)).toBe('59.9s');
    expect(formatDuration(185_000)).toBe('3m05s');
  });
});

describe('flywheel pipeline run: finding the pipeline', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await freshStore('sqlite');
  });
  afterAll(() => ts.dispose());
  const run = (...args: string[]) => cli('pipeline', 'run', ...args, '--tracking-uri', ts.uri);

  it('explains a missing file, a syntax error, no pipeline, several pipelines and a non-pipeline export (exit 1, no stack)', async () => {
    const missing = await run(join(dir, 'nope.ts'));
    expect(missing).toMatchObject({ code: 1, err: `error: pipeline file not found: ${join(dir, 'nope.ts')}\n` });

    const broken = await run(file('broken.ts', `export const x = ;\n`));
    expect(broken.code).toBe(1);
    expect(broken.err).toMatch(/^error: (syntax error in|failed to load) .*broken\.ts/);
    expect(broken.err).not.toMatch(/\n\s+at /);

    const none = await run(file('none.ts', `export const answer = 42;\n`));
    expect(none).toMatchObject({ code: 1, err: expect.stringMatching(/none\.ts exports no pipeline/) });

    const two = file('two.ts', `${NUMBERS}\nexport const other = pipeline('other', () => d());\n`);
    const ambiguous = await run(two);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.err).toMatch(/exports several pipelines: numbers \(cli-numbers\), other \(other\); choose one with --pipeline/);
    expect((await run(two, '--pipeline', 'answer')).err).toMatch(/has no export 'answer'/);
    const chosen = await run(two, '--pipeline', 'other', '--json');
    expect(chosen.code).toBe(0);
    expect(JSON.parse(chosen.out)).toMatchObject({ pipeline: 'other', status: 'COMPLETED' });

    const notPipeline = await run(file('default.ts', `export default { hello: 1 };\n`));
    expect(notPipeline.err).toMatch(/the default export of .*default\.ts is not a pipeline/);
    const txt = await run(file('p.txt', 'x'));
    expect(txt.err).toMatch(/expected a \.ts, \.mts, \.js or \.mjs file/);
  });

  it('refuses a server URL: the steps run here and need the store', async () => {
    const res = await cli('pipeline', 'run', file('n.ts', NUMBERS), '--tracking-uri', 'http://127.0.0.1:1');
    expect(res.code).toBe(1);
    expect(res.err).toMatch(/is a server\. Pass the server's store instead: --tracking-uri/);
  });

  it('runs a plain .mjs pipeline file', async () => {
    const mjs = file('plain.mjs', `import { pipeline, step } from ${API.replace('.js"', '.ts"')};\nconst s = step('only', () => 1);\nexport default pipeline('plain-js', () => s());\n`);
    const res = await run(mjs, '--json');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.out)).toMatchObject({ pipeline: 'plain-js', status: 'COMPLETED', steps: [{ name: 'only', status: 'COMPLETED' }] });
  });
});

describe.each(DIALECTS)('flywheel pipeline run / runs on %s', (dialect) => {
  let ts: TestStore;
  let artifacts: string;
  let pipelineFile: string;
  beforeAll(async () => {
    ts = await freshStore(dialect);
    artifacts = mkdtempSync(join(tmpdir(), 'flywheel-pipeline-cli-artifacts-'));
    pipelineFile = file(`numbers-${dialect}.ts`, NUMBERS);
  });
  afterAll(async () => {
    await ts.dispose();
    rmSync(artifacts, { recursive: true, force: true });
  });
  const at = () => ['--tracking-uri', ts.uri];
  const run = (...args: string[]) => cli('pipeline', 'run', pipelineFile, ...args, ...at(), '--artifact-root', artifacts);
  const ids: string[] = [];

  it('runs, prints progress lines, the run id and a summary table; then everything is cached', async () => {
    const first = await run('--concurrency', '1');
    expect(first.code).toBe(0);
    expect(first.err).toMatch(/^pipeline cli-numbers: run [0-9a-f]{32}, 4 steps\na: running\na: done in \d+ms\n/);
    expect(first.out).toMatch(/^STEP\s+STATUS\s+DURATION\s+CACHE$/m);
    expect(first.out).toMatch(/^b\s+COMPLETED\s+\d+ms\s+miss: no previous run$/m);
    const id = /pipeline run ([0-9a-f]{32}): COMPLETED/.exec(first.out)![1];
    ids.push(id);

    const second = await run('--explain-cache', '--json');
    expect(second.code).toBe(0);
    const json = JSON.parse(second.out);
    expect(json.steps.map((s: { name: string; status: string }) => [s.name, s.status])).toEqual([
      ['a', 'CACHED'], ['b', 'CACHED'], ['d', 'CACHED'], ['c', 'CACHED'],
    ]);
    expect(json.steps[0].cache).toMatchObject({ hit: true, reasons: ['all key parts unchanged'] });
    ids.push(json.pipeline_run_id);

    const explained = await run('--param', 'n=5', '--explain-cache');
    expect(explained.out).toMatch(/^a: MISS \(key [0-9a-f]{12}…\)\n {2}- params\.n: 2 → 5$/m);
    expect(explained.out).toMatch(/^b: MISS .*\n {2}- input 'x': /m);
    expect(explained.out).toMatch(/^d: HIT/m);
    ids.push(/pipeline run ([0-9a-f]{32})/.exec(explained.out)![1]);

    const uncached = await run('--no-cache', '--json');
    expect(JSON.parse(uncached.out).steps.map((s: { status: string }) => s.status)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED', 'COMPLETED']);
  });

  it('exits 1 when a step fails; fail-fast skips the rest, --continue-on-failure only what depends on it', async () => {
    const config = file(`fail-${dialect}.yaml`, 'parameters: { fail: true }\nsteps: { b: { retries: 1, retryBackoffMs: 0 } }\n');
    const failed = await run('--config', config, '--concurrency', '1', '--json');
    expect(failed.code).toBe(1);
    const json = JSON.parse(failed.out);
    expect(json).toMatchObject({ status: 'FAILED', error: "step 'b' failed: Error: boom in b" });
    const byName = Object.fromEntries(json.steps.map((s: { name: string; status: string }) => [s.name, s.status]));
    expect(byName).toMatchObject({ a: 'CACHED', b: 'FAILED', c: 'SKIPPED' });
    expect(json.steps[1].attempts).toBe(2);

    const cont = await run('--param', 'fail=true', '--continue-on-failure', '--concurrency', '1', '--no-cache');
    expect(cont.code).toBe(1);
    expect(cont.out).toMatch(/^d\s+COMPLETED/m);
    expect(cont.out).toMatch(/^c\s+SKIPPED/m);
    expect(cont.out).toMatch(/pipeline run [0-9a-f]{32}: FAILED \(step 'b' failed: Error: boom in b\)/);
    expect(cont.err).toContain('b: failed after');
    expect(cont.err).not.toContain('error:');
  });

  it('lists runs newest first and shows one with steps, cache decisions, outputs, errors and logs', async () => {
    const list = await cli('pipeline', 'runs', 'list', ...at());
    expect(list.code).toBe(0);
    const rows = list.out.trim().split('\n');
    expect(rows[0]).toMatch(/^RUN ID\s+PIPELINE\s+STATUS\s+STARTED \(UTC\)\s+DURATION$/);
    expect(rows, list.out).toHaveLength(7);
    const json = JSON.parse((await cli('pipeline', 'runs', 'list', '--pipeline', 'cli-numbers', '--max-results', '2', '--json', ...at())).out);
    expect(json.map((r: { status: string }) => r.status)).toEqual(['FAILED', 'FAILED']);
    expect(JSON.parse((await cli('pipeline', 'runs', 'list', '--pipeline', 'nope', '--json', ...at())).out)).toEqual([]);

    const show = await cli('pipeline', 'runs', 'show', ids[0], '--logs', ...at());
    expect(show.code).toBe(0);
    expect(show.out).toMatch(/^pipeline run:\s+[0-9a-f]{32}\npipeline:\s+cli-numbers\nstatus:\s+COMPLETED/);
    expect(show.out).toMatch(/^b\s+COMPLETED\s+\d+ms\s+miss: no previous run\s+output=cli-numbers\/b\/output:v1$/m);
    expect(show.out).toMatch(/LOGS b\n.*b saw 4/);

    const cached = await cli('pipeline', 'runs', 'show', ids[1], ...at());
    expect(cached.out).toMatch(/^c\s+CACHED\s+\d+ms\s+hit: all key parts unchanged\s+output=cli-numbers\/c\/output:v1$/m);

    const failedId = json[0].id;
    const failed = await cli('pipeline', 'runs', 'show', failedId, '--json', ...at());
    const detail = JSON.parse(failed.out);
    expect(detail.step_runs.find((s: { step_name: string }) => s.step_name === 'b')).toMatchObject({ status: 'FAILED', error: 'Error: boom in b' });
    const text = await cli('pipeline', 'runs', 'show', failedId, ...at());
    expect(text.out).toMatch(/ERRORS\nb: Error: boom in b\nc: upstream step 'b' failed/);

    const unknown = await cli('pipeline', 'runs', 'show', 'f'.repeat(32), ...at());
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/does not exist.*RESOURCE_DOES_NOT_EXIST/);
  });

  it('lists and shows runs through a server too', async () => {
    const server = await startServer({ backendStoreUri: ts.uri, artifactsDestination: artifacts, port: 0, logLevel: 'silent' });
    try {
      const remote = ['--tracking-uri', server.url];
      const list = JSON.parse((await cli('pipeline', 'runs', 'list', '--max-results', '3', '--json', ...remote)).out);
      expect(list).toHaveLength(3);
      const show = await cli('pipeline', 'runs', 'show', ids[0], ...remote);
      expect(show.code).toBe(0);
      expect(show.out).toMatch(/^a\s+COMPLETED\s+\d+ms\s+miss: no previous run\s+output=cli-numbers\/a\/output:v1$/m);
      const missing = await cli('pipeline', 'runs', 'show', 'f'.repeat(32), ...remote);
      expect(missing).toMatchObject({ code: 1, err: expect.stringMatching(/does not exist.*RESOURCE_DOES_NOT_EXIST/) });
    } finally {
      await server.close();
    }
  });
});

describe('flywheel pipeline run: Ctrl-C', () => {
  it('records the run CANCELLED and exits by SIGINT (status 130 in a shell)', async () => {
    const db = join(dir, 'sigint.db');
    const slow = file('slow.ts', `
import { pipeline, step } from ${API};
const first = step('first', () => 1);
const wait = step('wait', (_i: { x: number }, ctx) => new Promise((resolve) => { const t = setTimeout(resolve, 60_000); ctx.signal.addEventListener('abort', () => clearTimeout(t)); }));
const after = step('after', (_i: { y: unknown }) => 2);
export default pipeline('slow', () => after({ y: wait({ x: first() }) }));
`);
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'pipeline', 'run', slow, '--tracking-uri', db], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('wait: running')) resolve();
      });
      child.on('exit', () => resolve());
    });
    expect(err).toContain('wait: running');
    child.kill('SIGINT');
    const { code, signal } = await exited;
    expect(signal === 'SIGINT' || code === 130).toBe(true);
    const store = openStore(db);
    try {
      const runs = await store.db.selectFrom('pipeline_runs').select(['status', 'error']).execute();
      expect(runs).toEqual([{ status: 'CANCELLED', error: expect.stringMatching(/SIGINT/) }]);
      const steps = await store.db.selectFrom('step_runs').select(['step_name', 'status']).orderBy('start_time').execute();
      expect(Object.fromEntries(steps.map((s) => [s.step_name, s.status]))).toEqual({ first: 'COMPLETED', wait: 'CANCELLED', after: 'SKIPPED' });
    } finally {
      await store.close();
    }
  });
});
