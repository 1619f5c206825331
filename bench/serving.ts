/**
 * The inference server under load: `flywheel models serve` in its own process on a 30-feature ONNX logistic
 * regression, driven by autocannon from this process. Single-row requests at 1, 16 and 64 connections
 * (throughput, p50, p99), then 1,000-row requests (rows/s).
 *
 * Two server configurations: `full` (as deployed by default: a log line per request, every prediction in
 * the inference log, here a JSONL file) and `bare` (`--no-inference-log --log-level warn`: the serving path
 * alone). FLYWHEEL_BENCH_SERVE_ARGS adds flags to both (e.g. "--max-batch-wait-ms 1 --workers 2");
 * FLYWHEEL_BENCH_SECONDS sets each case's duration (default 8); FLYWHEEL_BENCH_CONFIGS=full (or bare) runs one.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { saveModel } from '../src/models/index.js';
import { mulberry32 } from '../test/helpers/prng.js';
import { progress, report, round } from './stats.js';

const FEATURES = 30;
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const seconds = Number(process.env.FLYWHEEL_BENCH_SECONDS ?? 8);

const CONFIGS: Record<string, (logFile: string) => string[]> = {
  full: (logFile) => ['--inference-log-file', logFile],
  bare: () => ['--no-inference-log', '--log-level', 'warn'],
};

async function serve(modelDir: string, config: string[]): Promise<{ url: string; stop(): Promise<void> }> {
  const extra = (process.env.FLYWHEEL_BENCH_SERVE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'models', 'serve', '-m', modelDir, '--port', '0', '--no-report', ...config, ...extra];
  // stdout carries the per-request log lines (info level, as in production); they are read and dropped.
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /listening on (http:\/\/[^\s"]+)/.exec(line);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited with code ${code} before listening`)));
    setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('server did not print its address within 60 s'));
    }, 60_000).unref();
  });
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function load(url: string, connections: number, body: string, duration = seconds) {
  const result = await autocannon({
    url: `${url}/invocations`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    duration,
  });
  return result;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flywheel-bench-serving-'));
  const rand = mulberry32(7);
  const columns = Array.from({ length: FEATURES }, (_, i) => `f${i}`);
  const row = () => columns.map(() => round(rand() * 2 - 1, 4));
  const modelDir = join(dir, 'model');
  await saveModel(
    modelDir,
    { flavor: 'onnx', onnx: { kind: 'logistic', coefficients: columns.map(() => rand() - 0.5), intercept: 0.1 } },
    { signature: { inputs: columns.map((name) => ({ name, type: 'double' as const })) } },
  );
  const single = JSON.stringify({ dataframe_split: { columns, data: [row()] } });
  const batch = JSON.stringify({ dataframe_split: { columns, data: Array.from({ length: 1000 }, row) } });
  try {
    const only = (process.env.FLYWHEEL_BENCH_CONFIGS ?? '').split(',').filter(Boolean);
    for (const [config, flags] of Object.entries(CONFIGS)) {
      if (only.length && !only.includes(config)) continue;
      const server = await serve(modelDir, flags(join(dir, `inference-${config}.jsonl`)));
      try {
        progress(`${config}: warm-up`);
        await load(server.url, 16, single, 3);
        for (const connections of [1, 16, 64]) {
          progress(`${config}: single-row requests, ${connections} connection(s), ${seconds} s`);
          const r = await load(server.url, connections, single);
          report({
            bench: 'serving',
            config,
            case: 'single-row',
            connections,
            req_per_s: Math.round(r.requests.average),
            p50_ms: r.latency.p50,
            p99_ms: r.latency.p99,
            errors: r.errors + r.non2xx,
            ...(connections === 16 ? { target_req_per_s: 5000, target_p99_ms: 10 } : {}),
          });
        }
        for (const connections of [1, 4]) {
          progress(`${config}: 1,000-row requests, ${connections} connection(s), ${seconds} s`);
          const r = await load(server.url, connections, batch);
          report({
            bench: 'serving',
            config,
            case: 'batch-1000-rows',
            connections,
            rows_per_s: Math.round(r.requests.average * 1000),
            req_per_s: Math.round(r.requests.average),
            p50_ms: r.latency.p50,
            p99_ms: r.latency.p99,
            errors: r.errors + r.non2xx,
            target_rows_per_s: 500000,
          });
        }
      } finally {
        await server.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
