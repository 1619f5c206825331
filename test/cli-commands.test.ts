import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { Flywheel } from '../src/index.js';

/** Runs the CLI in process and collects what it printed. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

describe('flywheel CLI (in process)', () => {
  let dir: string;
  let db: string;
  const at = () => ['--tracking-uri', db];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'flywheel-cli-'));
    db = join(dir, 'flywheel.db');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints help for the program and for each command', async () => {
    const top = await cli('--help');
    expect(top.code).toBe(0);
    for (const command of ['server', 'db', 'experiments', 'runs']) expect(top.out).toContain(command);
    const exps = await cli('experiments', '--help');
    for (const sub of ['create', 'list', 'get', 'delete', 'restore', 'rename']) expect(exps.out).toContain(sub);
    const server = await cli('server', '--help');
    for (const flag of ['--backend-store-uri', '--artifacts-destination', '--default-artifact-root', '--host', '--port', '--no-serve-artifacts']) {
      expect(server.out).toContain(flag);
    }
    expect((await cli('runs', 'list', '--help')).out).toContain('--tracking-uri');
  });

  it('refuses an unknown command with a non-zero exit', async () => {
    const res = await cli('nope');
    expect(res.code).not.toBe(0);
    expect(res.err).toContain("unknown command 'nope'");
  });

  it('creates, lists, gets, renames, deletes and restores experiments', async () => {
    const created = await cli('experiments', 'create', 'iris', '--tag', 'team=ml', ...at());
    expect(created).toMatchObject({ code: 0, out: "Created experiment 'iris' with id 1\n" });

    const table = await cli('experiments', 'list', ...at());
    expect(table.code).toBe(0);
    const lines = table.out.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+STAGE/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['1', 'iris', 'active'],
      ['0', 'Default', 'active'],
    ]);

    const json = JSON.parse((await cli('experiments', 'get', '--name', 'iris', '--json', ...at())).out);
    expect(json).toMatchObject({ experiment_id: '1', name: 'iris', tags: [{ key: 'team', value: 'ml' }] });

    expect((await cli('experiments', 'rename', '1', 'iris-v2', ...at())).code).toBe(0);
    expect((await cli('experiments', 'delete', '1', ...at())).code).toBe(0);
    const active = JSON.parse((await cli('experiments', 'list', '--json', ...at())).out);
    expect(active.map((e: { name: string }) => e.name)).toEqual(['Default']);
    const deleted = JSON.parse((await cli('experiments', 'list', '--view', 'deleted', '--json', ...at())).out);
    expect(deleted.map((e: { name: string }) => e.name)).toEqual(['iris-v2']);
    expect((await cli('experiments', 'restore', '1', ...at())).code).toBe(0);
    expect((await cli('experiments', 'get', '1', ...at())).out).toMatch(/name:\s+iris-v2\nstage:\s+active/);
  });

  it('reports errors with their MLflow code and exit status 1', async () => {
    await cli('experiments', 'create', 'twice', ...at());
    const again = await cli('experiments', 'create', 'twice', ...at());
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already exists.*RESOURCE_ALREADY_EXISTS/);
    const missing = await cli('runs', 'get', 'f'.repeat(32), ...at());
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('RESOURCE_DOES_NOT_EXIST');
  });

  it('lists, shows, deletes and restores runs', async () => {
    const fw = await Flywheel.connect(db);
    const runId = await fw.withRun({ runName: 'cli-run' }, async (run) => {
      await run.logParam('lr', 0.1);
      await run.logMetric('acc', 0.9);
      return run.runId;
    });
    await fw.close();

    const table = await cli('runs', 'list', ...at());
    expect(table.out).toMatch(new RegExp(`${runId}\\s+cli-run\\s+FINISHED\\s+0`));
    const shown = await cli('runs', 'get', runId, ...at());
    expect(shown.out).toMatch(/status:\s+FINISHED/);
    expect(shown.out).toMatch(/PARAMS\nKEY\s+VALUE\nlr\s+0\.1/);
    expect(shown.out).toMatch(/acc\s+0\.9\s+0/);
    const json = JSON.parse((await cli('runs', 'get', runId, '--json', ...at())).out);
    expect(json.info.run_id).toBe(runId);

    expect((await cli('runs', 'delete', runId, ...at())).code).toBe(0);
    expect(JSON.parse((await cli('runs', 'list', '--json', ...at())).out)).toEqual([]);
    expect((await cli('runs', 'restore', runId, ...at())).code).toBe(0);
    expect(JSON.parse((await cli('runs', 'list', '-e', '0', '--json', ...at())).out)).toHaveLength(1);
  });

  it('db upgrade applies migrations once and says so', async () => {
    const store = join(dir, 'upgrade.db');
    const first = await cli('db', 'upgrade', store);
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^Applied \d+ migrations? to .*upgrade\.db:\n  001-tracking\n/);
    const second = await cli('db', 'upgrade', store);
    expect(second.out).toContain('is up to date');
  });
});
