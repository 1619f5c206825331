import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface BenchServer {
  url: string;
  /** The backend store the server uses, for set-up that writes to the store directly. */
  storeUri: string;
  close(): Promise<void>;
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * Spawns bench/serve.ts as a child process on port 0 with a fresh temp directory for artifacts, backed by
 * `FLYWHEEL_BENCH_STORE` when set (e.g. a scratch PostgreSQL database) or else a new SQLite file there.
 */
export async function startBenchServer(): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), 'flywheel-bench-'));
  const storeUri = process.env.FLYWHEEL_BENCH_STORE || `sqlite:///${join(dir, 'mlflow.db')}`;
  // FLYWHEEL_BENCH_PROFILE=<dir> writes a V8 CPU profile of the server there (open it in Chrome DevTools).
  const profile = process.env.FLYWHEEL_BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.FLYWHEEL_BENCH_PROFILE] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'bench/serve.ts', storeUri, join(dir, 'artifacts')], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line).url));
    child.once('exit', (code) => reject(new Error(`bench server exited with code ${code} before listening`)));
  });
  return {
    url,
    storeUri,
    async close() {
      child.stdin!.end();
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a server, runs `body` against it and always stops the server. */
export async function withBenchServer<T>(body: (server: BenchServer) => Promise<T>): Promise<T> {
  const server = await startBenchServer();
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}
