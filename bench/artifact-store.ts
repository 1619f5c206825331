/**
 * Pipeline artifacts: hashing and storing a 1 GB step output in the content-addressed store, against the
 * machine's own floor for the same work (`sha256sum` of the file plus a copy, synced). Target: within 2×.
 * The output is random bytes (incompressible), written once before the clock starts.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactRepository } from '../src/artifacts/index.js';
import { ContentAddressedStore } from '../src/pipelines/materializers/index.js';
import { progress, report, round } from './stats.js';

const SIZE = 1024 ** 3;
const CHUNK = 16 * 1024 * 1024;

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flywheel-bench-cas-'));
  try {
    const output = join(dir, 'output');
    mkdirSync(output);
    const file = join(output, 'data.bin');
    progress('writing a 1 GB output');
    const fd = openSync(file, 'w');
    const buf = Buffer.alloc(CHUNK);
    for (let written = 0; written < SIZE; written += CHUNK) writeSync(fd, randomFillSync(buf));
    closeSync(fd);

    progress('baseline: sha256sum + cp + sync');
    let t = performance.now();
    execFileSync('sha256sum', [file]);
    execFileSync('cp', [file, join(dir, 'copy.bin')]);
    execFileSync('sync');
    const baselineMs = performance.now() - t;
    rmSync(join(dir, 'copy.bin'));

    progress('ContentAddressedStore.put');
    const store = new ContentAddressedStore(new LocalArtifactRepository(join(dir, 'repo')));
    t = performance.now();
    const first = await store.put(output);
    const putMs = performance.now() - t;
    t = performance.now();
    const again = await store.put(output);
    const dedupMs = performance.now() - t;

    report({
      bench: 'artifact-store',
      bytes: SIZE,
      baseline_ms: round(baselineMs, 0),
      put_ms: round(putMs, 0),
      put_mb_per_s: round(SIZE / 1024 ** 2 / (putMs / 1000), 1),
      ratio_to_baseline: round(putMs / baselineMs, 2),
      stored_again_ms: round(dedupMs, 0),
      deduplicated: first.hash === again.hash && !again.written,
      target_ratio: 2,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
