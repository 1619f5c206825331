import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalArtifactRepository } from '../src/artifacts/index.js';
import { runCli } from '../src/cli/program.js';
import { Flywheel } from '../src/client/index.js';
import { ArtifactOutputStore, pipeline, runLocal, SqlPipelineStore, step } from '../src/pipelines/index.js';
import { startServer, type RunningServer } from '../src/server/index.js';
import { migrateToLatest, openStore } from '../src/store/index.js';
import { SqlTrackingStore } from '../src/tracking/index.js';

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

const load = step('load', (_: {}, ctx) => ({ n: ctx.params.n as number }), { params: { n: 1 } });
const double = step('double', ({ x }: { x: { n: number } }) => [x.n * 2]);
const numbers = pipeline('numbers', (p: { n: number }) => double({ x: load({}, { params: { n: p.n } }) }), { params: { n: 1 } });

describe('flywheel artifacts (CLI)', () => {
  let dir: string;
  let db: string;
  let server: RunningServer;
  const at = () => ['--tracking-uri', db];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flywheel-cli-artifacts-'));
    db = join(dir, 'flywheel.db');
    const store = openStore(db);
    try {
      await migrateToLatest(store);
      const tracking = new SqlTrackingStore(store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
      // Where the embedded client looks by default: artifacts/ beside the SQLite file.
      const opts = { recorder: new SqlPipelineStore(store, tracking), outputStore: new ArtifactOutputStore({ store, repository: new LocalArtifactRepository(join(dir, 'artifacts')) }) };
      for (const n of [1, 2, 3]) expect((await runLocal(numbers, { ...opts, params: { n } })).status).toBe('COMPLETED');
    } finally {
      await store.close();
    }
    const fw = new Flywheel({ trackingUri: db });
    await fw.saveArtifact('saved/notes', 'first', { metadata: { owner: 'ana' } });
    await fw.saveArtifact('saved/notes', 'second');
    await fw.close();
    server = await startServer({ backendStoreUri: db, artifactsDestination: join(dir, 'artifacts'), port: 0, logLevel: 'silent' });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists artifacts with their latest version, filtered by prefix, as a table or JSON', async () => {
    const table = await cli('artifacts', 'list', ...at());
    expect(table.code).toBe(0);
    const lines = table.out.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+LATEST\s+VERSIONS\s+TYPE\s+SIZE\s+CREATED \(UTC\)\s+ID$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 4))).toEqual([
      ['numbers/double/output', '3', '3', 'json'],
      ['numbers/load/output', '3', '3', 'json'],
      ['saved/notes', '2', '2', 'string'],
    ]);
    const filtered = JSON.parse((await cli('artifacts', 'list', '--name', 'saved/', '--json', ...at())).out);
    expect(filtered.map((a: any) => a.name)).toEqual(['saved/notes']);
    // The same through a server.
    const remote = await cli('artifacts', 'list', '--name', 'numbers/', '--tracking-uri', server.url);
    expect(remote.code).toBe(0);
    expect(remote.out.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['numbers/double/output', 'numbers/load/output']);
  });

  it('shows a version: metadata, producer, consumers and visualizations', async () => {
    const shown = await cli('artifacts', 'show', 'numbers/load/output:2', ...at());
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/^id:\s+\S+$/m);
    expect(shown.out).toMatch(/^version:\s+2$/m);
    expect(shown.out).toMatch(/^materializer:\s+json@1$/m);
    expect(shown.out).toMatch(/^producer:\s+step 'load' \(step run \S+, pipeline run \S+, COMPLETED\)$/m);
    expect(shown.out).toMatch(/CONSUMERS\nSTEP\s+STEP RUN\s+PIPELINE RUN\s+STATUS\ndouble\s/);
    expect(shown.out).toMatch(/VISUALIZATIONS\n#\s+KIND\s+TYPE\s+TITLE\n0\s+markdown/);
    const saved = await cli('artifacts', 'show', 'saved/notes:1', ...at());
    expect(saved.out).toMatch(/^producer:\s+saved outside a pipeline$/m);
    expect(saved.out).toMatch(/METADATA\nKEY\s+VALUE\nowner\s+"ana"/);
    const json = JSON.parse((await cli('artifacts', 'show', 'saved/notes', '--json', '--tracking-uri', server.url)).out);
    expect(json).toMatchObject({ name: 'saved/notes', version: 2, type: 'string', consumers: [], visualizations: [] });
    const missing = await cli('artifacts', 'show', 'nope', ...at());
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("No artifact named 'nope'");
    expect(missing.err).toContain('RESOURCE_DOES_NOT_EXIST');
  });

  it('downloads a version by name:version or id, embedded and remote', async () => {
    const out = join(dir, 'dl1');
    const res = await cli('artifacts', 'download', 'saved/notes:1', '-o', out, ...at());
    expect(res.code).toBe(0);
    expect(res.out).toBe(`Downloaded saved/notes:1 (1 file(s), 5 B) to ${out}\n`);
    expect(readFileSync(join(out, 'data.txt'), 'utf8')).toBe('first');
    const id = JSON.parse((await cli('artifacts', 'show', 'numbers/double/output', '--json', ...at())).out).id;
    const out2 = join(dir, 'dl2');
    const remote = await cli('artifacts', 'download', id, '-o', out2, '--tracking-uri', server.url);
    expect(remote.code).toBe(0);
    expect(JSON.parse(readFileSync(join(out2, 'data.json'), 'utf8'))).toEqual([6]);
  });

  it('prune: shows the plan without --yes, changes nothing on --dry-run, deletes with --yes', async () => {
    const countVersions = async () => JSON.parse((await cli('artifacts', 'list', '--json', ...at())).out).reduce((n: number, a: any) => n + a.version_count, 0);
    const before = await countVersions();
    expect(before).toBe(8);

    const refused = await cli('artifacts', 'prune', '--keep-last', '1', ...at());
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/^WOULD DELETE \(5\)$/m);
    expect(refused.out).toMatch(/^ {2}numbers\/load\/output:1 .*no kept run or registered model uses it$/m);
    expect(refused.out).toMatch(/^KEPT \(3\)$/m);
    expect(refused.out).toMatch(/^ {2}numbers\/load\/output:3 .*used by run \S+ of pipeline 'numbers' \(one of its latest 1\)$/m);
    expect(refused.out).toMatch(/^ {2}saved\/notes:2 .*one of the latest 1 versions of 'saved\/notes'$/m);
    expect(refused.err).toContain('pass --yes');
    expect(await countVersions()).toBe(before);

    const dry = await cli('artifacts', 'prune', '--keep-last', '1', '--dry-run', '--json', ...at());
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.out)).toMatchObject({ dry_run: true, keep_last: 1 });
    expect(await countVersions()).toBe(before);

    const done = await cli('artifacts', 'prune', '--keep-last', '1', '--yes', '--tracking-uri', server.url);
    expect(done.code).toBe(0);
    expect(done.out).toMatch(/^DELETED \(5\)$/m);
    expect(done.out).toMatch(/^Deleted 5 artifact version\(s\) and 5 stored content\(s\), .*; kept 3\.$/m);
    expect(await countVersions()).toBe(3);
    expect(existsSync(join(dir, 'artifacts', 'cas'))).toBe(true);

    expect((await cli('artifacts', 'prune', '--older-than', 'soon', ...at())).err).toContain('Invalid duration');
    expect((await cli('artifacts', 'prune', '--keep-last', '-2', ...at())).code).not.toBe(0);
  });
});
