import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flywheel } from '../src/index.js';
import { startTestServer } from './helpers/server.js';
import { call, metric, probability, registerBroken, registerLogistic } from './helpers/serving-models.js';

const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLYWHEEL_')));

const REPO = new URL('..', import.meta.url).pathname;

/** Runs from the repository (where `--import tsx` resolves); every file the command writes is named by a flag. */
const children = new Set<ReturnType<typeof spawn>>();

function flywheel(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

type Child = ReturnType<typeof flywheel>;

/** Collects the child's output; `url` resolves with the address of the "listening on" line. */
function watch(child: Child) {
  let output = '';
  child.stderr.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      output += `${line}\n`;
      const m = /listening on (http:\/\/[^\s"]+)/.exec(line);
      if (m) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`exited (${code}) before listening:\n${output}`)));
  });
  return { url, exited, output: () => output };
}

describe('flywheel models serve (as a process)', () => {
  const model = { coefficients: [1, 2, -1], intercept: 0.5 };
  let dir: string;
  let db: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flywheel-serve-cli-'));
    db = join(dir, 'flywheel.db');
    const fw = await Flywheel.connect(db);
    try {
      await registerLogistic(fw, 'prices', model);
      await fw.setAlias('prices', 'champion', 1);
      await registerBroken(fw, 'broken', dir);
    } finally {
      await fw.close();
    }
  });
  afterAll(() => {
    // A test that failed or timed out leaves no server behind.
    for (const child of children) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a registered model, logs each request with its id, records predictions, stops on SIGTERM', async () => {
    const logFile = join(dir, 'inference.jsonl');
    const child = flywheel(['models', 'serve', '-m', 'models:/prices@champion', '--tracking-uri', db, '--port', '0', '--no-report', '--inference-log-file', logFile]);
    const w = watch(child);
    try {
      const url = await w.url;
      const ping = await call(url, '/ping');
      expect(ping.status).toBe(200);
      const res = await call(url, '/invocations', { dataframe_split: { columns: ['a', 'b', 'c'], data: [[1, 1, 1]] } }, { 'x-request-id': 'cli-req-1' });
      expect(res.status).toBe(200);
      expect(res.json.predictions[0].probabilities[1]).toBeCloseTo(probability(model, [1, 1, 1]), 5);
      expect((await call(url, '/v2/models/prices')).json.versions).toEqual(['1']);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await w.exited).toBe(0);
    const lines = w.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(lines.find((l) => l.reqId === 'cli-req-1')).toMatchObject({ msg: 'request', url: '/invocations', status: 200, model_version: '1' });
    expect(lines.some((l) => /shutting down/.test(l.msg))).toBe(true);
    // The inference log (here a local file) has the prediction, flushed at shutdown.
    const records = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records.find((r) => r.requestId === 'cli-req-1')).toMatchObject({ modelName: 'prices', modelVersion: '1', inputs: [{ a: 1, b: 1, c: 1 }], status: 200 });
  });

  it('exits 1 with a clear message when the model cannot load', async () => {
    for (const [uri, message] of [['models:/broken/1', /is not an ONNX model/], ['models:/prices@nobody', /alias nobody not found/]] as const) {
      const child = flywheel(['models', 'serve', '-m', uri, '--tracking-uri', db, '--port', '0', '--no-report', '--no-inference-log']);
      const w = watch(child);
      w.url.catch(() => undefined);
      expect(await w.exited).toBe(1);
      expect(w.output()).toMatch(message);
      expect(w.output()).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it('--workers 2 forks two workers that share the port', async () => {
    const child = flywheel(['models', 'serve', '-m', 'models:/prices/1', '--tracking-uri', db, '--port', '0', '--workers', '2', '--metrics-port', '0', '--no-report', '--no-inference-log']);
    const w = watch(child);
    try {
      const url = await w.url;
      const pids = new Set<string>();
      for (let i = 0; i < 40 && pids.size < 2; i++) {
        const res = await fetch(new URL('/metrics', url), { headers: { connection: 'close' } });
        const text = await res.text();
        const pid = /flywheel_serving_worker_info\{pid="(\d+)"\} 1/.exec(text)?.[1];
        if (pid) pids.add(pid);
      }
      expect((await call(url, '/ping')).status).toBe(200);
      expect(pids.size).toBe(2);
      // The primary serves both workers' metrics, summed.
      const metricsUrl = /metrics of all workers on (http:\/\/\S+?\/metrics)/.exec(w.output())![1];
      for (let i = 0; i < 6; i++) await call(url, '/invocations', { instances: [[1, 1, 1]] }, { connection: 'close' });
      const all = (await call(metricsUrl, '')).text;
      const workers = [...all.matchAll(/flywheel_serving_worker_info\{pid="(\d+)"\} 1/g)].map((m) => m[1]);
      expect(new Set(workers)).toEqual(pids);
      expect(metric(all, 'flywheel_serving_requests_total', { endpoint: '/invocations', status: '200', model_version: '1' })).toBe(6);
      expect(metric(all, 'flywheel_serving_model_info', { model_name: 'prices', model_version: '1' })).toBe(1);
      // A worker that dies is replaced (a connection handed to it as it died may hang: hence the timeouts).
      const [victim] = pids;
      process.kill(Number(victim), 'SIGKILL');
      let replaced = false;
      for (let i = 0; i < 200 && !replaced; i++) {
        const text = await fetch(metricsUrl, { signal: AbortSignal.timeout(3000) }).then((r) => r.text(), () => '');
        const now = [...text.matchAll(/flywheel_serving_worker_info\{pid="(\d+)"\} 1/g)].map((m) => m[1]);
        replaced = now.length === 2 && !now.includes(victim);
        if (!replaced) await new Promise((r) => setTimeout(r, 50));
      }
      expect(replaced).toBe(true);
      for (let i = 0; i < 4; i++) expect((await fetch(new URL('/ping', url), { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) })).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await w.exited).toBe(0);
  });

  it('against a Flywheel server: registers the deployment and ships the inference log there', async () => {
    const registry = await startTestServer();
    try {
      const fw = await Flywheel.connect({ trackingUri: registry.url, maxRetries: 0 });
      await registerLogistic(fw, 'e2e', model);
      await fw.setAlias('e2e', 'champion', 1);
      const child = flywheel(['models', 'serve', '-m', 'models:/e2e@champion', '--tracking-uri', registry.url, '--port', '0']);
      const w = watch(child);
      try {
        const url = await w.url;
        for (let i = 0; i < 3; i++) {
          const res = await call(url, '/invocations', { dataframe_records: [{ a: i, b: 1, c: 0 }] }, { 'x-request-id': `e2e-${i}` });
          expect(res.status).toBe(200);
        }
        const live = await registry.call('GET', '/api/v1/deployments/e2e');
        expect(live.json.deployment).toMatchObject({ name: 'e2e', model_uri: 'models:/e2e@champion', model_version: '1', endpoint: url, status: 'RUNNING' });
      } finally {
        child.kill('SIGTERM');
      }
      expect(await w.exited).toBe(0);
      // Shutdown flushed the inference log to the server and marked the deployment stopped.
      const log = await registry.call('GET', '/api/v1/inference-log', { model_name: 'e2e' });
      expect(log.json.rows.map((r: any) => r.request_id).sort()).toEqual(['e2e-0', 'e2e-1', 'e2e-2']);
      expect(log.json.rows[0]).toMatchObject({ model_name: 'e2e', model_version: '1', deployment: 'e2e', status: 200 });
      const stopped = await registry.call('GET', '/api/v1/deployments/e2e');
      expect(stopped.json.deployment.status).toBe('STOPPED');
      await fw.close();
    } finally {
      await registry.close();
    }
  });
});
