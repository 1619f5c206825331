import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { migrateToLatest, openStore } from '../src/store/index.js';
import { DIALECTS, freshPostgresUri } from './helpers/stores.js';

/** Starts the server in a child process so the test can kill -9 it. */
async function spawnServer(storeUri: string, artifacts: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/server-child.ts'), storeUri, artifacts], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, url };
}

describe.each(DIALECTS)('kill -9 during ingest on %s', (dialect) => {
  const dir = mkdtempSync(join(tmpdir(), 'flywheel-crash-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every acknowledged write and reopens cleanly', async () => {
    const pgdb = dialect === 'postgres' ? await freshPostgresUri() : undefined;
    const storeUri = pgdb?.uri ?? `sqlite:${join(dir, 'flywheel.db')}`;
    try {
      const { child, url } = await spawnServer(storeUri, join(dir, 'artifacts'));
      const post = (path: string, body: unknown) =>
        fetch(`${url}/api/2.0/mlflow/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const runId = ((await (await post("runs/create", { experiment_id: "0" })).json()) as any).run.info.run_id;
      const acked = new Set<number>();
      let killed = false;
      const writer = async (lane: number) => {
        for (let i = 0; !killed; i++) {
          const step = i * 8 + lane;
          try {
            const metrics = Array.from({ length: 50 }, (_, k) => ({ key: 'm', value: step * 50 + k, timestamp: step, step: step * 50 + k }));
            const res = await post('runs/log-batch', { run_id: runId, metrics });
            if (res.status === 200) acked.add(step);
          } catch {
            return; // the connection died with the server: this write was never acknowledged
          }
        }
      };
      const writers = Array.from({ length: 8 }, (_, lane) => writer(lane));
      const exited = new Promise((r) => child.once('exit', r));
      while (acked.size < 100) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      killed = true;
      await Promise.all(writers);
      await exited;

      const store = openStore(storeUri);
      try {
        if (dialect === 'sqlite') {
          const check = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(store.db);
          expect(check.rows[0].integrity_check).toBe('ok');
        }
        expect(await migrateToLatest(store)).toEqual([]);
        const rows = await store.db
          .selectFrom('metrics')
          .innerJoin('runs', 'runs.run_key', 'metrics.run_key')
          .select('metrics.step')
          .where('runs.run_uuid', '=', runId)
          .execute();
        const steps = new Set(rows.map((r) => Number(r.step)));
        const lost = [...acked].filter((s) => !Array.from({ length: 50 }, (_, k) => s * 50 + k).every((x) => steps.has(x)));
        expect(lost).toEqual([]);
        // a batch is all or nothing
        expect(rows.length % 50).toBe(0);
      } finally {
        await store.close();
      }
    } finally {
      await pgdb?.drop();
    }
  });
});
