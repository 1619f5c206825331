import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Float64, Int32, Table, Utf8, vectorFromArray } from 'apache-arrow';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Flywheel } from '../src/client/index.js';
import { saveModel } from '../src/models/index.js';
import { ArtifactOutputStore, pipeline, runLocal, SqlPipelineStore, step } from '../src/pipelines/index.js';
import { LocalDirectory, LocalFile, ModelDirectory, type Materializer } from '../src/pipelines/materializers/index.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { LocalArtifactRepository } from '../src/artifacts/index.js';
import { openStore } from '../src/store/index.js';
import { rejection } from './helpers/errors.js';
import { startServer } from '../src/server/index.js';
import { DIALECTS, freshPostgresUri, freshSqliteUri } from './helpers/stores.js';

const root = await mkdtemp(path.join(tmpdir(), 'flywheel-artifacts-sdk-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name = 'd') => path.join(root, `${name}${n++}`);

async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out[path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/')] = await readFile(path.join(e.parentPath, e.name), 'utf8');
  }
  return out;
}

/** A point as "x y" in point.txt: a custom materializer the server knows nothing about. */
class Point {
  constructor(readonly x: number, readonly y: number) {}
}
const pointMaterializer: Materializer<Point> = {
  name: 'point',
  version: '1',
  type: 'point',
  canHandle: (v) => v instanceof Point,
  save: async (v, dir) => writeFile(path.join(dir, 'point.txt'), `${v.x} ${v.y}`),
  load: async (dir) => {
    const [x, y] = (await readFile(path.join(dir, 'point.txt'), 'utf8')).split(' ').map(Number);
    return new Point(x, y);
  },
};

interface Setup {
  fw: Flywheel;
  /** The store and artifacts root behind it (for running pipelines into the same place). */
  storeUri: string;
  artifactsDir: string;
  dispose(): Promise<void>;
}

async function setUp(dialect: 'sqlite' | 'postgres', mode: 'embedded' | 'remote'): Promise<Setup> {
  const db = dialect === 'sqlite' ? freshSqliteUri() : await freshPostgresUri();
  const artifactsDir = fresh('artifacts');
  if (mode === 'remote') {
    // A real server on the store (as test/helpers/server.ts starts one), keeping the store's URI for the pipelines.
    const server = await startServer({ backendStoreUri: db.uri, artifactsDestination: artifactsDir, port: 0, logLevel: 'silent' });
    const fw = new Flywheel({ trackingUri: server.url, maxRetries: 0 });
    fw.registerMaterializer(pointMaterializer);
    return { fw, storeUri: db.uri, artifactsDir, dispose: async () => (await fw.close(), await server.close(), await db.drop()) };
  }
  const fw = new Flywheel({ trackingUri: db.uri, artifactsDestination: artifactsDir });
  fw.registerMaterializer(pointMaterializer);
  await fw.pipelines(); // opens (and migrates) the store
  return { fw, storeUri: db.uri, artifactsDir, dispose: async () => (await fw.close(), await db.drop()) };
}

for (const dialect of DIALECTS) {
  for (const mode of ['embedded', 'remote'] as const) {
    describe(`artifacts from the SDK (${mode}, ${dialect})`, () => {
      let s: Setup;
      beforeEach(async () => {
        s = await setUp(dialect, mode);
      });
      afterEach(async () => {
        await s.dispose();
      });

      it('round-trips every built-in materializer and a custom one', async () => {
        const { fw } = s;
        const json = await fw.saveArtifact('demo/json', { a: 1, list: [1, 'two', null] }, { metadata: { owner: 'me' } });
        expect(json).toMatchObject({ name: 'demo/json', version: 1, type: 'json', materializer: 'json@1', producer_step_run_id: null });
        expect(json.content_hash).toMatch(/^[0-9a-f]{64}$/);
        expect(json.uri).toBe(`cas/${json.content_hash.slice(0, 2)}/${json.content_hash}`);
        expect(json.metadata).toMatchObject({ owner: 'me' });
        expect(await fw.loadArtifact('demo/json')).toEqual({ a: 1, list: [1, 'two', null] });

        await fw.saveArtifact('demo/string', 'héllo\nworld');
        expect(await fw.loadArtifact('demo/string')).toBe('héllo\nworld');

        const bytes = await fw.saveArtifact('demo/bytes', new Uint8Array([0, 1, 255]));
        expect(bytes).toMatchObject({ type: 'bytes', size: 3 });
        expect([...(await fw.loadArtifact<Uint8Array>('demo/bytes'))]).toEqual([0, 1, 255]);

        const table = new Table({
          id: vectorFromArray([1, 2, 3], new Int32()),
          score: vectorFromArray([0.5, null, 2.25], new Float64()),
          name: vectorFromArray(['a', 'b', null], new Utf8()),
        });
        const t = await fw.saveArtifact('demo/table', table);
        expect(t).toMatchObject({ type: 'table', materializer: 'arrow-table@1' });
        const loadedTable = await fw.loadArtifact<Table>('demo/table');
        expect(loadedTable).toBeInstanceOf(Table);
        expect(loadedTable.toArray().map((r) => r.toJSON())).toEqual(table.toArray().map((r) => r.toJSON()));

        const src = fresh('src');
        await mkdir(path.join(src, 'sub'), { recursive: true });
        await writeFile(path.join(src, 'report.csv'), 'a,b\n1,2\n');
        await writeFile(path.join(src, 'sub', 'x.txt'), 'X');
        await fw.saveArtifact('demo/file', new LocalFile(path.join(src, 'report.csv')));
        const file = await fw.loadArtifact<LocalFile>('demo/file');
        expect(file).toBeInstanceOf(LocalFile);
        expect(path.basename(file.path)).toBe('report.csv');
        expect(await readFile(file.path, 'utf8')).toBe('a,b\n1,2\n');

        await fw.saveArtifact('demo/dir', new LocalDirectory(src));
        const dir = await fw.loadArtifact<LocalDirectory>('demo/dir');
        expect(dir).toBeInstanceOf(LocalDirectory);
        expect(await tree(dir.path)).toEqual(await tree(src));

        const modelDir = fresh('model');
        await saveModel(modelDir, { flavor: 'onnx', onnx: { kind: 'linear', coefficients: [2], intercept: 1 } });
        const mv = await fw.saveArtifact('demo/model', new ModelDirectory(modelDir));
        expect(mv.type).toBe('model');
        const model = await fw.loadArtifact<ModelDirectory>('demo/model');
        expect(model).toBeInstanceOf(ModelDirectory);
        expect(await tree(model.path)).toEqual(await tree(modelDir));

        const p = await fw.saveArtifact('demo/point', new Point(3, 4));
        expect(p).toMatchObject({ type: 'point', materializer: 'point@1' });
        expect(await fw.loadArtifact('demo/point')).toEqual(new Point(3, 4));
      });

      it('increments versions, loads by latest, version, name:version and id, and deduplicates content', async () => {
        const { fw } = s;
        const v1 = await fw.saveArtifact('counts', [1]);
        const v2 = await fw.saveArtifact('counts', [1, 2]);
        const v3 = await fw.saveArtifact('counts', [1]);
        expect([v1.version, v2.version, v3.version]).toEqual([1, 2, 3]);
        expect(v3.content_hash).toBe(v1.content_hash);
        expect(v3.id).not.toBe(v1.id);
        expect(await fw.loadArtifact('counts')).toEqual([1]);
        expect(await fw.loadArtifact('counts', 2)).toEqual([1, 2]);
        expect(await fw.loadArtifact('counts', '2')).toEqual([1, 2]);
        expect(await fw.loadArtifact('counts:2')).toEqual([1, 2]);
        expect(await fw.loadArtifact(v2.id)).toEqual([1, 2]);
        // Concurrent saves of one name each get their own version number.
        const parallel = await Promise.all([0, 1, 2, 3, 4].map((i) => fw.saveArtifact('parallel', { i })));
        expect(parallel.map((v) => v.version).sort()).toEqual([1, 2, 3, 4, 5]);
        const detail = await fw.getArtifactVersion('counts', 2);
        expect(detail).toMatchObject({ id: v2.id, consumers: [] });
        // Identical content is stored once.
        const casFiles = await readdir(path.join(s.artifactsDir, 'cas', v1.content_hash.slice(0, 2)));
        expect(casFiles.filter((f) => f.startsWith(v1.content_hash))).toEqual([v1.content_hash, `${v1.content_hash}.manifest.json`]);
      });

      it('streams a few megabytes and refuses content damaged in the store (DATA_LOSS)', async () => {
        const { fw } = s;
        const big = Buffer.alloc(3 * 1024 * 1024 + 17);
        for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 10)) & 0xff;
        const v = await fw.saveArtifact('big/bytes', big);
        expect(v.size).toBe(big.length);
        expect(Buffer.from(await fw.loadArtifact<Uint8Array>('big/bytes')).equals(big)).toBe(true);
        // Same size, different bytes: only the hash can tell.
        const stored = path.join(s.artifactsDir, v.uri, 'data.bin');
        const damaged = Buffer.from(big);
        damaged[12345] ^= 0xff;
        await writeFile(stored, damaged);
        const err = await rejection(fw.loadArtifact('big/bytes'));
        expect(err).toMatchObject({ code: 'DATA_LOSS' });
      });

      it('answers RESOURCE_DOES_NOT_EXIST for an unknown name, version or id, and refuses bad input', async () => {
        const { fw } = s;
        await fw.saveArtifact('known', 1);
        const unknown = await rejection(fw.loadArtifact('nope'));
        expect(unknown).toMatchObject({ code: 'RESOURCE_DOES_NOT_EXIST' });
        expect(unknown.message).toContain("No artifact named 'nope'");
        const noVersion = await rejection(fw.loadArtifact('known', 7));
        expect(noVersion).toMatchObject({ code: 'RESOURCE_DOES_NOT_EXIST', message: expect.stringContaining("Artifact 'known' has no version 7") });
        expect(await rejection(fw.loadArtifact('known:9'))).toMatchObject({ code: 'RESOURCE_DOES_NOT_EXIST' });
        expect(await rejection(fw.saveArtifact('bad:name', 1))).toMatchObject({ code: 'INVALID_PARAMETER_VALUE' });
        expect(await rejection(fw.saveArtifact('../up', 1))).toMatchObject({ code: 'INVALID_PARAMETER_VALUE' });
        expect(await rejection(fw.saveArtifact('m', 1, { metadata: { visualizations: 1 } }))).toMatchObject({ code: 'INVALID_PARAMETER_VALUE' });
        const big = await rejection(fw.saveArtifact('m', 1, { metadata: { x: 'y'.repeat(70_000) } }));
        expect(big.message).toContain('metadata is larger');
        const wrong = await rejection(fw.saveArtifact('m', new Map(), { materializer: 'json' }));
        expect(wrong).toMatchObject({ code: 'INVALID_PARAMETER_VALUE', message: expect.stringContaining("Materializer 'json' cannot handle a value of type Map") });
        // An explicit materializer beats the automatic choice: a model directory stored as a plain directory.
        const modelDir = fresh('model');
        await saveModel(modelDir, { flavor: 'onnx', onnx: { kind: 'linear', coefficients: [2], intercept: 1 } });
        const asDir = await fw.saveArtifact('m', new LocalDirectory(modelDir), { materializer: 'directory' });
        expect(asDir).toMatchObject({ materializer: 'directory@1', type: 'directory' });
        expect(await fw.loadArtifact('m')).toBeInstanceOf(LocalDirectory);
      });

      it('stores visualizations from the materializer and the caller', async () => {
        const { fw } = s;
        const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
        const v = await fw.saveArtifact('viz/png', png, {
          visualizations: [
            { kind: 'markdown', markdown: '# Hello' },
            { kind: 'html', html: '<b>hi</b><script>alert(1)</script>' },
          ],
        });
        const viz = (v.metadata as { visualizations: unknown[] }).visualizations;
        expect(viz).toEqual([
          { kind: 'image', mimeType: 'image/png', path: 'data.bin' },
          { kind: 'markdown', markdown: '# Hello' },
          { kind: 'html', html: '<b>hi</b><script>alert(1)</script>' },
        ]);
        const client = await fw.pipelines();
        const listed = await client.visualizations(v.id);
        expect(listed.map((e) => [e.index, e.kind, e.mime_type, e.sandbox])).toEqual([
          [0, 'image', 'image/png', undefined],
          [1, 'markdown', undefined, undefined],
          [2, 'html', undefined, true],
        ]);
        const bad = await rejection(fw.saveArtifact('viz/bad', 1, { visualizations: [{ kind: 'image', mimeType: 'text/html', data: 'AAAA' }] }));
        expect(bad).toMatchObject({ code: 'INVALID_PARAMETER_VALUE' });
      });

      it('getPipelineRun returns the run with its step runs, cache decisions and output refs', async () => {
        const { fw } = s;
        const store = openStore(s.storeUri);
        try {
          const tracking = new SqlTrackingStore(store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
          const opts = {
            recorder: new SqlPipelineStore(store, tracking),
            outputStore: new ArtifactOutputStore({ store, repository: new LocalArtifactRepository(s.artifactsDir) }),
          };
          const load = step('load', () => [1, 2, 3]);
          const total = step('total', ({ xs }: { xs: number[] }) => xs.reduce((a, b) => a + b, 0));
          const p = pipeline('sdk-run', () => total({ xs: load() }));
          const first = await runLocal(p, opts);
          const second = await runLocal(p, opts);
          expect(second.status).toBe('COMPLETED');
          const run = await fw.getPipelineRun(second.pipelineRunId);
          expect(run).toMatchObject({ id: second.pipelineRunId, pipeline_name: 'sdk-run', status: 'COMPLETED' });
          const steps = Object.fromEntries(run.step_runs.map((r) => [r.step_name, r]));
          expect(steps.load.status).toBe('CACHED');
          expect(steps.load.cache_decision).toMatchObject({ hit: true });
          expect(steps.total.params).toEqual({});
          expect(steps.total.start_time).toEqual(expect.any(Number));
          const out = steps.total.outputs!.output as { artifactVersionId: string; name: string; version: number };
          expect(out).toMatchObject({ name: 'sdk-run/total/output', version: 1 });
          expect(await fw.loadArtifact(out.artifactVersionId)).toBe(6);
          expect(await fw.loadArtifact('sdk-run/total/output')).toBe(6);
          const producer = await fw.getArtifactVersion(out.artifactVersionId);
          expect(producer.producer?.pipeline_run_id).toBe(first.pipelineRunId);
          expect(await rejection(fw.getPipelineRun('nope'))).toMatchObject({ code: 'RESOURCE_DOES_NOT_EXIST' });

          // A run marked kept keeps its versions through a prune that keeps no run by recency.
          const client = await fw.pipelines();
          await fw.keepPipelineRun(first.pipelineRunId);
          const kept = await client.pruneArtifacts({ keepLast: 0, dryRun: true });
          expect(kept.deleted).toEqual([]);
          expect(kept.kept.find((k) => k.name === 'sdk-run/total/output')!.reasons).toEqual([
            `used by run ${first.pipelineRunId} of pipeline 'sdk-run', marked kept (flywheel.keep)`,
          ]);
          await fw.keepPipelineRun(first.pipelineRunId, false);
          const unkept = await client.pruneArtifacts({ keepLast: 0, dryRun: true });
          expect(unkept.deleted.map((d) => d.name).sort()).toEqual(['sdk-run/load/output', 'sdk-run/total/output']);
        } finally {
          await store.close();
        }
      });
    });
  }
}
