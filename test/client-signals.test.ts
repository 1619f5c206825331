import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { Flywheel } from '../src/index.js';
import { SDK_MODES, sdkBackend, type SdkBackend } from './fixtures/sdk-backends.js';

const FIXTURE = new URL('./fixtures/sdk-signal-run.ts', import.meta.url).pathname;

/** Starts the fixture, waits for the run id it prints, and returns it with a way to await the exit. */
async function startTraining(trackingUri: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, trackingUri], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  const lines = createInterface({ input: child.stdout });
  const runId = await new Promise<string>((resolve, reject) => {
    lines.once('line', (line) => resolve(JSON.parse(line).runId));
    void exited.then(({ code }) => reject(new Error(`fixture exited (${code}) before starting a run: ${stderr}`)));
  });
  return { child, runId, exited };
}

describe.each(SDK_MODES)('a run interrupted by a signal (%s)', (mode) => {
  let backend: SdkBackend | undefined;

  afterEach(async () => {
    await backend?.dispose();
    backend = undefined;
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('ends KILLED on %s, then the process dies of the signal', async (signal) => {
    backend = await sdkBackend(mode);
    const { child, runId, exited } = await startTraining(backend.options.trackingUri);
    child.kill(signal);
    const { code, signal: got } = await exited;
    // Dies of the re-raised signal (a shell reports 130 / 143), or exits with that status.
    expect([signal, signal === 'SIGINT' ? 130 : 143]).toContain(got ?? code);

    const fw = await Flywheel.connect(backend.options);
    try {
      const run = await fw.getRun(runId);
      expect(run.info.status).toBe('KILLED');
      expect(run.info.end_time).toBeGreaterThan(0);
      // The buffered metric was flushed before the run ended.
      expect(run.data.metrics?.map((m) => [m.key, m.value])).toEqual([['progress', 0.5]]);
    } finally {
      await fw.close();
    }
  });
});
