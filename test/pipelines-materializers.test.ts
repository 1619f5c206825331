import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Float64, Int32, Table, Utf8, tableFromArrays, vectorFromArray } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalArtifactRepository } from '../src/artifacts/index.js';
import { loadModelFromDirectory, saveModel } from '../src/models/index.js';
import {
  ContentAddressedStore, LocalDirectory, LocalFile, MaterializerRegistry, ModelDirectory, hashDirectory, loadOutput,
  saveOutput, SmallValueCache, tablePreview, type Materializer, type OutputRecord, sniffImage, normalizeVisualizations, encodeUpload, decodeUpload,
} from '../src/pipelines/materializers/index.js';
import { rejection } from './helpers/errors.js';

const root = await mkdtemp(path.join(tmpdir(), 'flywheel-materializers-'));
afterAll(() => rm(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name = 'd') => path.join(root, `${name}${n++}`);
const freshRepo = () => new LocalArtifactRepository(fresh('repo'));

async function roundTrip<T>(value: unknown, materializer?: string) {
  const repo = freshRepo();
  const record = await saveOutput(value, { repo, materializer });
  const loaded = await loadOutput<T>(record, repo, { destDir: fresh('load') });
  return { record, loaded, repo };
}

/** Every file under `dir`, relative path → content. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) {
      const abs = path.join(e.parentPath, e.name);
      out[path.relative(dir, abs).split(path.sep).join('/')] = await readFile(abs, 'utf8');
    }
  }
  return out;
}

describe('built-in materializers round-trip', () => {
  it('json, including nested values', async () => {
    const value = { a: 1, nested: { list: [1, 'two', null, { deep: true }], empty: {} }, f: -0.5 };
    const { record, loaded } = await roundTrip(value);
    expect(record.materializer).toEqual({ name: 'json', version: '1' });
    expect(record.type).toBe('json');
    expect(record.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(record.uri).toBe(`cas/${record.hash.slice(0, 2)}/${record.hash}`);
    expect(loaded).toEqual(value);
    expect((await roundTrip([1, [2, [3]]])).loaded).toEqual([1, [2, [3]]]);
    expect((await roundTrip(null)).loaded).toBeNull();
  });

  it('strings and bytes', async () => {
    const s = await roundTrip<string>('héllo\nworld');
    expect(s.record.materializer.name).toBe('string');
    expect(s.loaded).toBe('héllo\nworld');

    const bytes = new Uint8Array([0, 1, 2, 255, 254]);
    const b = await roundTrip<Uint8Array>(bytes);
    expect(b.record.materializer.name).toBe('bytes');
    expect(b.record.size).toBe(5);
    expect(new Uint8Array(b.loaded)).toEqual(bytes);
    expect((await roundTrip<Uint8Array>(Buffer.from('buf'))).record.materializer.name).toBe('bytes');
  });

  it('Arrow tables through Parquet keep schema and rows', async () => {
    const table = new Table({
      id: vectorFromArray([1, 2, 3], new Int32()),
      score: vectorFromArray([0.5, null, 2.25], new Float64()),
      name: vectorFromArray(['a', 'b', null], new Utf8()),
    });
    const { record, loaded } = await roundTrip<Table>(table);
    expect(record.materializer.name).toBe('arrow-table');
    expect(record.type).toBe('table');
    expect(loaded).toBeInstanceOf(Table);
    expect(loaded.schema.fields.map((f) => `${f.name}:${f.type}:${f.nullable}`)).toEqual(
      table.schema.fields.map((f) => `${f.name}:${f.type}:${f.nullable}`),
    );
    expect(loaded.toArray().map((r) => r.toJSON())).toEqual(table.toArray().map((r) => r.toJSON()));
  });

  it('a file', async () => {
    const src = path.join(fresh('src'), 'report.csv');
    await mkdir(path.dirname(src), { recursive: true });
    await writeFile(src, 'a,b\n1,2\n');
    const { record, loaded } = await roundTrip<LocalFile>(new LocalFile(src));
    expect(record.materializer.name).toBe('file');
    expect(loaded).toBeInstanceOf(LocalFile);
    expect(path.basename(loaded.path)).toBe('report.csv');
    expect(await readFile(loaded.path, 'utf8')).toBe('a,b\n1,2\n');
  });

  it('a directory tree', async () => {
    const src = fresh('src');
    await mkdir(path.join(src, 'sub', 'deeper'), { recursive: true });
    await writeFile(path.join(src, 'top.txt'), 'top');
    await writeFile(path.join(src, 'sub', 'a.txt'), 'A');
    await writeFile(path.join(src, 'sub', 'deeper', 'b.bin'), 'B');
    const { record, loaded } = await roundTrip<LocalDirectory>(new LocalDirectory(src));
    expect(record.materializer.name).toBe('directory');
    expect(loaded).toBeInstanceOf(LocalDirectory);
    expect(await tree(loaded.path)).toEqual(await tree(src));
  });

  it('a saved model directory, loadable after the round trip', async () => {
    const dir = fresh('model');
    await saveModel(dir, { flavor: 'onnx', onnx: { kind: 'linear', coefficients: [2], intercept: 1 } }, {
      signature: { inputs: [{ type: 'double', name: 'x', required: true }] },
    });
    // A plain directory holding an MLmodel is recognised as a model.
    const { record, loaded } = await roundTrip<ModelDirectory>(new LocalDirectory(dir));
    expect(record.materializer.name).toBe('model');
    expect(record.type).toBe('model');
    expect(record.visualizations[0]).toMatchObject({ kind: 'markdown' });
    expect((record.visualizations[0] as { markdown: string }).markdown).toContain('onnx');
    expect(loaded).toBeInstanceOf(ModelDirectory);
    expect(await tree(loaded.path)).toEqual(await tree(dir));
    const model = await loadModelFromDirectory(loaded.path);
    try {
      const out = (await model.predict([{ x: 3 }])) as { variable: number }[];
      expect(out[0].variable).toBeCloseTo(7, 5);
    } finally {
      await model.close();
    }
  });

  it('a model directory without a valid MLmodel is refused with the reason', async () => {
    const dir = fresh('notmodel');
    await mkdir(dir);
    const err = await rejection(saveOutput(new ModelDirectory(dir), { repo: freshRepo() }));
    expect(err.message).toMatch(/Materializer 'model'.*MLmodel/);
  });
});

describe('content-addressed store', () => {
  it('stores identical content once under the same hash', async () => {
    const repo = freshRepo();
    const first = await saveOutput({ x: [1, 2, 3] }, { repo });
    const second = await saveOutput({ x: [1, 2, 3] }, { repo });
    expect(second.hash).toBe(first.hash);
    expect(await repo.list(`cas/${first.hash.slice(0, 2)}`)).toHaveLength(2); // the directory and its manifest

    const store = new ContentAddressedStore(repo);
    const dir = fresh('same');
    await mkdir(dir);
    await writeFile(path.join(dir, 'data.json'), JSON.stringify({ x: [1, 2, 3] }));
    const again = await store.put(dir);
    expect(again).toMatchObject({ hash: first.hash, written: false });
    expect((await saveOutput({ x: [1, 2, 4] }, { repo })).hash).not.toBe(first.hash);
  });

  it('hashes names and content: a renamed or edited file changes the hash, order of creation does not', async () => {
    const make = async (files: [string, string][]) => {
      const dir = fresh('h');
      for (const [name, body] of files) {
        await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
        await writeFile(path.join(dir, name), body);
      }
      return (await hashDirectory(dir)).hash;
    };
    const base = await make([['a/x', '1'], ['b', '2']]);
    expect(await make([['b', '2'], ['a/x', '1']])).toBe(base);
    expect(await make([['a/y', '1'], ['b', '2']])).not.toBe(base);
    expect(await make([['a/x', '1'], ['b', '3']])).not.toBe(base);
    // Moving a byte across a file boundary changes the hash.
    expect(await make([['a/x', '12'], ['b', '']])).not.toBe(await make([['a/x', '1'], ['b', '2']]));
  });

  it('verify detects a deleted or modified file, and put repairs it', async () => {
    const repoRoot = fresh('repo');
    const repo = new LocalArtifactRepository(repoRoot);
    const store = new ContentAddressedStore(repo);
    const src = fresh('src');
    await mkdir(path.join(src, 'sub'), { recursive: true });
    await writeFile(path.join(src, 'one.txt'), 'one');
    await writeFile(path.join(src, 'sub', 'two.txt'), 'two');
    const { hash, uri, size, written } = await store.put(src);
    expect(written).toBe(true);
    expect(size).toBe(6);
    expect(await store.verify(hash)).toBe(true);

    // Same size, different bytes.
    await writeFile(path.join(repoRoot, uri, 'one.txt'), 'ONE');
    expect(await store.verify(hash)).toBe(false);
    expect((await rejection(store.get(hash, fresh('get')))).code).toBe('DATA_LOSS');

    expect(await store.put(src)).toMatchObject({ hash, written: true });
    expect(await store.verify(hash)).toBe(true);

    await rm(path.join(repoRoot, uri, 'sub', 'two.txt'));
    expect(await store.verify(hash)).toBe(false);
    expect((await rejection(store.get(hash, fresh('get')))).code).toBe('DATA_LOSS');

    await store.put(src);
    await writeFile(path.join(repoRoot, uri, 'extra.txt'), 'x');
    expect(await store.verify(hash)).toBe(false);
    await store.put(src);
    const out = fresh('get');
    await store.get(hash, out);
    expect(await tree(out)).toEqual({ 'one.txt': 'one', 'sub/two.txt': 'two' });

    expect(await store.verify('0'.repeat(64))).toBe(false);
    expect((await rejection(store.get('0'.repeat(64), fresh('get')))).code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect((await rejection(store.verify('../etc'))).code).toBe('INVALID_PARAMETER_VALUE');
  });
});

describe('small values stored from memory', () => {
  it('stores the same files under the same hash as a materialized directory, durably in place', async () => {
    const repo = freshRepo();
    for (const [value, file, body] of [
      [{ a: [1, 'é'] }, 'data.json', '{"a":[1,"é"]}'],
      ['text', 'data.txt', 'text'],
    ] as const) {
      const record = await saveOutput(value, { repo });
      const dir = fresh('src');
      await mkdir(dir);
      await writeFile(path.join(dir, file), body);
      expect(record.hash).toBe((await hashDirectory(dir)).hash);
      expect(await tree(path.join(repo.root, record.uri))).toEqual({ [file]: body });
      expect(await new ContentAddressedStore(repo).verify(record.hash)).toBe(true);
      // No temp file left behind, the manifest beside the directory.
      expect((await repo.list(`cas/${record.hash.slice(0, 2)}`)).map((e) => e.path).sort()).toEqual([record.uri, `${record.uri}.manifest.json`]);
    }
  });

  it('hands each load its own copy: a consumer changing its input changes nobody else\'s', async () => {
    const repo = freshRepo();
    const cache = new SmallValueCache();
    const bytes = Uint8Array.from([1, 2, 3]);
    const record = await saveOutput(bytes, { repo, cache });
    bytes[0] = 9; // the producer keeps changing its array after returning it
    const first = await loadOutput<Buffer>(record, repo, { cache });
    first[1] = 9;
    expect([...(await loadOutput<Buffer>(record, repo, { cache }))]).toEqual([1, 2, 3]);
    const obj = await saveOutput({ list: [1] }, { repo, cache });
    (await loadOutput<{ list: number[] }>(obj, repo, { cache })).list.push(2);
    expect(await loadOutput(obj, repo, { cache })).toEqual({ list: [1] });
  });

  it('a load without the value at hand reads the file and refuses a damaged or missing one (DATA_LOSS)', async () => {
    const repo = freshRepo();
    const record = await saveOutput('hello', { repo });
    expect(await loadOutput(record, repo)).toBe('hello');
    const file = path.join(repo.root, record.uri, 'data.txt');
    await writeFile(file, 'HELLO');
    expect((await rejection(loadOutput(record, repo))).code).toBe('DATA_LOSS');
    await rm(file);
    expect((await rejection(loadOutput(record, repo))).code).toBe('DATA_LOSS');
    expect(await new ContentAddressedStore(repo).verify(record.hash)).toBe(false);
    // Saving the same value again repairs the stored copy.
    expect((await saveOutput('hello', { repo })).hash).toBe(record.hash);
    expect(await loadOutput(record, repo)).toBe('hello');
  });

  it('verify refuses a symbolic link in place of a stored file', async () => {
    const repo = freshRepo();
    const record = await saveOutput('linked', { repo });
    const file = path.join(repo.root, record.uri, 'data.txt');
    const outside = fresh('outside');
    await writeFile(outside, 'linked');
    await rm(file);
    await symlink(outside, file);
    expect(await new ContentAddressedStore(repo).verify(record.hash)).toBe(false);
    expect((await rejection(loadOutput(record, repo))).code).toBe('DATA_LOSS');
  });

  it('stores and checks a value too large for the synchronous path the same way', async () => {
    const repo = freshRepo();
    const big = 'x'.repeat(300 * 1024);
    const record = await saveOutput(big, { repo });
    expect(record.size).toBe(big.length);
    expect(await loadOutput(record, repo)).toBe(big);
    expect(await saveOutput(big, { repo })).toEqual(record);
    await writeFile(path.join(repo.root, record.uri, 'data.txt'), `${big.slice(1)}y`);
    expect(await new ContentAddressedStore(repo).verify(record.hash)).toBe(false);
    expect((await saveOutput(big, { repo })).hash).toBe(record.hash);
    expect(await new ContentAddressedStore(repo).verify(record.hash)).toBe(true);
  });

  it('two saves of the same new value at once both succeed and leave one intact copy', async () => {
    const repo = freshRepo();
    const records = await Promise.all(Array.from({ length: 8 }, () => saveOutput({ same: true }, { repo })));
    expect(new Set(records.map((r) => r.hash)).size).toBe(1);
    expect(await new ContentAddressedStore(repo).verify(records[0].hash)).toBe(true);
  });
});

class Point {
  constructor(readonly x: number, readonly y: number) {}
}

const pointMaterializer: Materializer<Point> = {
  name: 'point',
  version: '2.1',
  type: 'point',
  canHandle: (v) => v instanceof Point,
  async save(p, dir) {
    await writeFile(path.join(dir, 'point.txt'), `${p.x} ${p.y}`);
  },
  async load(dir) {
    const [x, y] = (await readFile(path.join(dir, 'point.txt'), 'utf8')).split(' ').map(Number);
    return new Point(x, y);
  },
};

describe('registry', () => {
  it('picks a registered custom materializer and loads with it', async () => {
    const registry = new MaterializerRegistry().register(pointMaterializer);
    const repo = freshRepo();
    const record = await saveOutput(new Point(1, 2), { repo, registry });
    expect(record.materializer).toEqual({ name: 'point', version: '2.1' });
    expect(await loadOutput(record, repo, { registry })).toEqual(new Point(1, 2));
    // Without the materializer, the record cannot be loaded.
    expect((await rejection(loadOutput(record, repo))).message).toMatch(/Unknown materializer 'point'/);
  });

  it('custom materializers are tried before built-ins, and a name picks explicitly', async () => {
    const upper: Materializer<string> = {
      name: 'upper', version: '1', type: 'text', canHandle: (v) => typeof v === 'string' && v === v.toUpperCase(),
      save: (v, dir) => writeFile(path.join(dir, 'u.txt'), v), load: (dir) => readFile(path.join(dir, 'u.txt'), 'utf8'),
    };
    const registry = new MaterializerRegistry().register(upper);
    expect(registry.select('LOUD').name).toBe('upper');
    expect(registry.select('quiet').name).toBe('string');
    expect(registry.select('LOUD', 'string').name).toBe('string');
    expect(registry.select({ a: 1 }, 'json').name).toBe('json');
    expect(() => registry.register(upper)).toThrow(/already registered/);
    expect(() => registry.select('x', 'bytes')).toThrow(/'bytes' cannot handle a value of type string/);
    expect(() => registry.select('x', 'nope')).toThrow(/Unknown materializer 'nope'/);
  });

  it('a value no materializer handles gives a clear error', async () => {
    for (const value of [new Map([[1, 2]]), () => 1, 10n, { when: new Date() }, undefined]) {
      const err = await rejection(saveOutput(value, { repo: freshRepo() }));
      expect(err.code).toBe('INVALID_PARAMETER_VALUE');
      expect(err.message).toMatch(/No materializer can handle a value of type/);
    }
    const err = await rejection(saveOutput({ a: [1, NaN] }, { repo: freshRepo(), materializer: 'json' }));
    expect(err.message).toMatch(/cannot handle/);
  });

  it('a materializer that throws fails with an error naming it', async () => {
    const broken: Materializer<Point> = {
      ...pointMaterializer,
      name: 'broken-point',
      save: async () => {
        throw new Error('disk on fire');
      },
    };
    const registry = new MaterializerRegistry().register(broken);
    const err = await rejection(saveOutput(new Point(0, 0), { repo: freshRepo(), registry }));
    expect(err.code).toBe('INTERNAL_ERROR');
    expect(err.message).toBe("Materializer 'broken-point' (version 2.1) failed to save a value of type Point: disk on fire");

    const badLoad: Materializer<Point> = { ...pointMaterializer, name: 'bad-load', load: async () => { throw new Error('corrupt'); } };
    const registry2 = new MaterializerRegistry().register(badLoad);
    const repo = freshRepo();
    const record = await saveOutput(new Point(0, 0), { repo, registry: registry2 });
    expect((await rejection(loadOutput(record, repo, { registry: registry2 }))).message).toMatch(/Materializer 'bad-load'.*failed to load.*corrupt/);

    const badCheck: Materializer<Point> = { ...pointMaterializer, name: 'bad-check', canHandle: () => { throw new Error('boom'); } };
    const err3 = await rejection(saveOutput(1, { repo: freshRepo(), registry: new MaterializerRegistry().register(badCheck) }));
    expect(err3.message).toMatch(/Materializer 'bad-check' failed in canHandle\(\): boom/);
  });

  it('refuses to load with an incompatible materializer version', async () => {
    const repo = freshRepo();
    const record: OutputRecord = await saveOutput('text', { repo });
    expect(await loadOutput({ ...record, materializer: { name: 'string', version: '1.4' } }, repo)).toBe('text');
    const err = await rejection(loadOutput({ ...record, materializer: { name: 'string', version: '2' } }, repo));
    expect(err.message).toMatch(/version 2.*cannot read it/);
  });
});

describe('visualizations', () => {
  it('a table output carries a preview of at most 20 rows', async () => {
    const table = tableFromArrays({ i: Int32Array.from({ length: 50 }, (_, k) => k), big: BigInt64Array.from({ length: 50 }, (_, k) => BigInt(k) * 10n) });
    const record = await saveOutput(table, { repo: freshRepo() });
    expect(record.visualizations).toHaveLength(1);
    const v = record.visualizations[0];
    expect(v.kind).toBe('table');
    if (v.kind !== 'table') return;
    expect(v.columns).toEqual(['i', 'big']);
    expect(v.totalRows).toBe(50);
    expect(v.rows).toHaveLength(20);
    expect(v.rows[3]).toEqual([3, '30']);
    expect(JSON.parse(JSON.stringify(record))).toEqual(record); // JSON-safe for the UI
    expect(tablePreview(table, 5).kind === 'table' && tablePreview(table, 5)).toMatchObject({ rows: [[0, '0'], [1, '10'], [2, '20'], [3, '30'], [4, '40']] });
  });
});

describe('visualizations from values and files', () => {
  const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

  it('bytes that are an image, and image/HTML/markdown files, visualize as themselves', async () => {
    expect((await saveOutput(PNG, { repo: freshRepo() })).visualizations).toEqual([{ kind: 'image', mimeType: 'image/png', path: 'data.bin' }]);
    expect((await saveOutput(Buffer.from([0xff, 0xd8, 0xff, 0xe0]), { repo: freshRepo() })).visualizations[0]).toMatchObject({ mimeType: 'image/jpeg' });
    expect((await saveOutput(Buffer.from('plain'), { repo: freshRepo() })).visualizations).toEqual([]);
    const src = fresh('files');
    await mkdir(src);
    await writeFile(path.join(src, 'chart.SVG'), '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>');
    await writeFile(path.join(src, 'page.html'), '<p>x</p>');
    await writeFile(path.join(src, 'README.md'), '# Title');
    await writeFile(path.join(src, 'data.csv'), 'a\n1\n');
    expect((await saveOutput(new LocalFile(path.join(src, 'chart.SVG')), { repo: freshRepo() })).visualizations).toEqual([
      { kind: 'image', mimeType: 'image/svg+xml', path: 'chart.SVG', title: 'chart.SVG' },
    ]);
    expect((await saveOutput(new LocalFile(path.join(src, 'data.csv')), { repo: freshRepo() })).visualizations).toEqual([]);
    expect((await saveOutput(new LocalDirectory(src), { repo: freshRepo() })).visualizations).toEqual([
      { kind: 'markdown', markdown: '# Title', title: 'README.md' },
      { kind: 'image', mimeType: 'image/svg+xml', path: 'chart.SVG', title: 'chart.SVG' },
      { kind: 'html', path: 'page.html', title: 'page.html' },
    ]);
    expect(sniffImage(Buffer.from('<svg width="1"></svg>'))).toBe('image/svg+xml');
    expect(sniffImage(Buffer.from('GIF89a....'))).toBe('image/gif');
    expect(sniffImage(Buffer.from('<html>'))).toBeUndefined();
  });

  it('user visualizations are checked and image bytes become base64', () => {
    expect(normalizeVisualizations([{ kind: 'image', mimeType: 'image/png', data: PNG }])).toEqual([{ kind: 'image', mimeType: 'image/png', data: PNG.toString('base64') }]);
    expect(() => normalizeVisualizations([{ kind: 'html' } as never])).toThrow(/exactly one of path or html/);
    expect(() => normalizeVisualizations([{ kind: 'markdown', markdown: 'x'.repeat(3 * 1024 * 1024) }])).toThrow(/larger than/);
    expect(() => normalizeVisualizations(Array.from({ length: 21 }, () => ({ kind: 'markdown' as const, markdown: 'x' })))).toThrow(/Invalid visualization/);
  });

  it('a materializer given as an object is used only for values it accepts', async () => {
    const onlyNumbers: Materializer<number> = {
      name: 'num', version: '1', type: 'number', canHandle: (v) => typeof v === 'number',
      save: (v, dir) => writeFile(path.join(dir, 'n.txt'), String(v)), load: async (dir) => Number(await readFile(path.join(dir, 'n.txt'), 'utf8')),
    };
    expect((await saveOutput(4, { repo: freshRepo(), materializer: onlyNumbers })).materializer).toEqual({ name: 'num', version: '1' });
    await expect(saveOutput('four', { repo: freshRepo(), materializer: onlyNumbers })).rejects.toThrow("Materializer 'num' cannot handle a value of type string");
  });

  it('the upload stream round-trips a directory and refuses a short or long body', async () => {
    const src = fresh('up');
    await mkdir(path.join(src, 'a'), { recursive: true });
    await writeFile(path.join(src, 'a', 'x.bin'), Buffer.alloc(200_000, 7));
    await writeFile(path.join(src, 'y.txt'), 'why');
    const { files, hash } = await hashDirectory(src);
    const chunks: Buffer[] = [];
    for await (const c of encodeUpload({ files }, src)) chunks.push(c);
    const body = Buffer.concat(chunks);
    // Fed in small, odd-sized pieces, as a network delivers it.
    const pieces = async function* (b: Buffer) {
      for (let i = 0; i < b.length; i += 7777) yield b.subarray(i, i + 7777);
    };
    const dest = fresh('down');
    await mkdir(dest);
    const limits = { maxSpecBytes: 1 << 20, maxContentBytes: 1 << 30 };
    const spec = await decodeUpload(pieces(body), dest, (j) => j as { files: typeof files }, limits);
    expect(spec.files).toEqual(files);
    expect((await hashDirectory(dest)).hash).toBe(hash);
    const short = fresh('short');
    await mkdir(short);
    await expect(decodeUpload(pieces(body.subarray(0, body.length - 1)), short, (j) => j as { files: typeof files }, limits)).rejects.toThrow(/ended inside 'y.txt'/);
    const small = fresh('small');
    await mkdir(small);
    await expect(decodeUpload(pieces(body), small, (j) => j as { files: typeof files }, { ...limits, maxContentBytes: 1000 })).rejects.toThrow(/the limit is 1000/);
  });
});
