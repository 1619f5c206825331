import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArtifactStore, LocalArtifactRepository } from '../src/artifacts/index.js';
import { FlywheelError } from '../src/core/index.js';

async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (e instanceof FlywheelError ? e.code : `non-Flywheel error: ${String(e)}`),
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

let base: string;
let root: string;
let repo: LocalArtifactRepository;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'flywheel-art-repo-'));
  root = join(base, 'root');
  repo = new LocalArtifactRepository(root);
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('LocalArtifactRepository', () => {
  it('lists [] and reads 404 before the root exists', async () => {
    expect(await repo.list('')).toEqual([]);
    expect(await repo.list('a/b')).toEqual([]);
    expect(await errorCode(repo.read('a.txt'))).toBe('RESOURCE_DOES_NOT_EXIST');
    await repo.delete('a.txt'); // no error
  });

  it('writes, lists, reads and deletes, nested and binary', async () => {
    const binary = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256));
    await repo.write('model/MLmodel', Buffer.from('flavors: {}\n'));
    await repo.write('model/data/weights.bin', Readable.from([binary.subarray(0, 1000), binary.subarray(1000)]));
    await repo.write('a.txt', Buffer.from('hello'));

    expect(await repo.list('')).toEqual([
      { path: 'a.txt', is_dir: false, file_size: 5 },
      { path: 'model', is_dir: true },
    ]);
    expect(await repo.list('model/')).toEqual([
      { path: 'model/MLmodel', is_dir: false, file_size: 12 },
      { path: 'model/data', is_dir: true },
    ]);
    expect(await repo.list('a.txt')).toEqual([]); // a file is not a directory
    expect(await repo.list('missing')).toEqual([]);

    const { stream, size } = await repo.read('model/data/weights.bin');
    expect(size).toBe(binary.length);
    expect((await readAll(stream)).equals(binary)).toBe(true);

    await repo.write('a.txt', Buffer.from('replaced')); // overwrite
    expect((await readAll((await repo.read('a.txt')).stream)).toString()).toBe('replaced');

    expect(await errorCode(repo.read('model'))).toBe('RESOURCE_DOES_NOT_EXIST'); // a directory
    expect(await errorCode(repo.read('nope.txt'))).toBe('RESOURCE_DOES_NOT_EXIST');

    await repo.delete('model/data/weights.bin');
    expect(existsSync(join(root, 'model', 'data', 'weights.bin'))).toBe(false);
    await repo.delete('model');
    expect(existsSync(join(root, 'model'))).toBe(false);
    expect(await repo.list('')).toEqual([{ path: 'a.txt', is_dir: false, file_size: 8 }]);
  });

  it('writes an empty file', async () => {
    await repo.write('empty', Readable.from([]));
    expect(await repo.list('')).toEqual([{ path: 'empty', is_dir: false, file_size: 0 }]);
  });

  it('refuses to write over a directory, under a file, or at the root, and to delete the root', async () => {
    await repo.write('d/f', Buffer.from('x'));
    expect(await errorCode(repo.write('d', Buffer.from('x')))).toBe('INVALID_PARAMETER_VALUE');
    expect(await errorCode(repo.write('d/f/g', Buffer.from('x')))).toBe('INVALID_PARAMETER_VALUE');
    expect(await errorCode(repo.write('', Buffer.from('x')))).toBe('INVALID_PARAMETER_VALUE');
    expect(await errorCode(repo.delete(''))).toBe('INVALID_PARAMETER_VALUE');
    expect(readFileSync(join(root, 'd', 'f'), 'utf8')).toBe('x');
  });

  it('removes the temp file when the body fails mid-upload and keeps the old content', async () => {
    await repo.write('f.bin', Buffer.from('old'));
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024, 1));
        this.destroy(new Error('client went away'));
      },
    });
    await expect(repo.write('f.bin', failing)).rejects.toThrow('client went away');
    expect(readdirSync(root)).toEqual(['f.bin']);
    expect(readFileSync(join(root, 'f.bin'), 'utf8')).toBe('old');
  });

  it('hides uploads in progress from listings', async () => {
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, '.flywheel-upload-0b5b0b5b-1111-4222-8333-444455556666.tmp'), 'partial');
    writeFileSync(join(root, '.visible'), 'x');
    expect(await repo.list('')).toEqual([{ path: '.visible', is_dir: false, file_size: 1 }]);
  });

  it('refuses unsafe paths in every operation', async () => {
    for (const p of ['../x', '/etc/passwd', 'a/../../x', 'C:/x', '..\\x', 'a%2e%2e', 'x\u0000']) {
      expect(await errorCode(repo.list(p)), p).toBe('INVALID_PARAMETER_VALUE');
      expect(await errorCode(repo.read(p)), p).toBe('INVALID_PARAMETER_VALUE');
      expect(await errorCode(repo.write(p, Buffer.from('x'))), p).toBe('INVALID_PARAMETER_VALUE');
      expect(await errorCode(repo.delete(p)), p).toBe('INVALID_PARAMETER_VALUE');
    }
    expect(readdirSync(base)).toEqual(existsSync(root) ? ['root'] : []);
  });

  describe('symlinks', () => {
    beforeEach(() => {
      mkdirSync(join(root, 'real'), { recursive: true });
      writeFileSync(join(root, 'real', 'inside.txt'), 'inside');
      mkdirSync(join(base, 'outside'));
      writeFileSync(join(base, 'outside', 'secret.txt'), 'secret');
      writeFileSync(join(base, 'sentinel.txt'), 'sentinel');
      symlinkSync(join(base, 'outside'), join(root, 'link-out'));
      symlinkSync(join(base, 'sentinel.txt'), join(root, 'file-out'));
      symlinkSync(join(root, 'real'), join(root, 'alias'));
    });

    const intact = () => {
      expect(readFileSync(join(base, 'outside', 'secret.txt'), 'utf8')).toBe('secret');
      expect(readFileSync(join(base, 'sentinel.txt'), 'utf8')).toBe('sentinel');
      expect(readdirSync(join(base, 'outside'))).toEqual(['secret.txt']);
    };

    it('never reads, writes, lists or deletes through a link leaving the root', async () => {
      expect(await errorCode(repo.read('link-out/secret.txt'))).toBe('INVALID_PARAMETER_VALUE');
      expect(await errorCode(repo.read('file-out'))).toBe('INVALID_PARAMETER_VALUE');
      expect(await errorCode(repo.list('link-out'))).toBe('INVALID_PARAMETER_VALUE');
      expect(await errorCode(repo.write('link-out/new.txt', Buffer.from('x')))).toBe('INVALID_PARAMETER_VALUE');
      expect(await errorCode(repo.write('link-out/deep/new.txt', Buffer.from('x')))).toBe('INVALID_PARAMETER_VALUE');
      expect(await errorCode(repo.write('file-out', Buffer.from('x')))).toBe('INVALID_PARAMETER_VALUE');
      expect(await errorCode(repo.delete('link-out/secret.txt'))).toBe('INVALID_PARAMETER_VALUE');
      expect(await errorCode(repo.delete('link-out'))).toBe('INVALID_PARAMETER_VALUE');
      expect(await errorCode(repo.delete('file-out'))).toBe('INVALID_PARAMETER_VALUE');
      intact();
    });

    it('omits escaping links from listings and follows links inside the root', async () => {
      expect(await repo.list('')).toEqual([
        { path: 'alias', is_dir: true },
        { path: 'real', is_dir: true },
      ]);
      expect(await repo.list('alias')).toEqual([{ path: 'alias/inside.txt', is_dir: false, file_size: 6 }]);
      expect((await readAll((await repo.read('alias/inside.txt')).stream)).toString()).toBe('inside');
      await repo.write('alias/new.txt', Buffer.from('new'));
      expect(readFileSync(join(root, 'real', 'new.txt'), 'utf8')).toBe('new');
    });

    it('deleting a tree that contains escaping links removes the links, not their targets', async () => {
      symlinkSync(join(base, 'outside'), join(root, 'real', 'nested-out'));
      await repo.delete('real');
      expect(existsSync(join(root, 'real'))).toBe(false);
      intact();
    });
  });
});

describe('ArtifactStore.listArtifacts', () => {
  it('lists under a run artifact URI with paths relative to it', async () => {
    const store = createArtifactStore({ root });
    await store.repository.write('1/run/artifacts/model/MLmodel', Buffer.from('m'));
    await store.repository.write('1/run/artifacts/a.txt', Buffer.from('abc'));

    const runUri = 'mlflow-artifacts:/1/run/artifacts';
    expect(await store.listArtifacts(runUri)).toEqual([
      { path: 'a.txt', is_dir: false, file_size: 3 },
      { path: 'model', is_dir: true },
    ]);
    expect(await store.listArtifacts(runUri, 'model')).toEqual([{ path: 'model/MLmodel', is_dir: false, file_size: 1 }]);
    expect(await store.listArtifacts('mlflow-artifacts://host:5000/1/run/artifacts/', 'model/')).toEqual([
      { path: 'model/MLmodel', is_dir: false, file_size: 1 },
    ]);
    expect(await store.listArtifacts(pathToFileURL(join(root, '1', 'run', 'artifacts')).href, 'model')).toEqual([
      { path: 'model/MLmodel', is_dir: false, file_size: 1 },
    ]);
    expect(await store.listArtifacts('mlflow-artifacts:/')).toEqual([{ path: '1', is_dir: true }]);
    expect(await store.listArtifacts(runUri, 'missing')).toEqual([]);

    // URIs the server does not serve, or invalid stored ones: nothing.
    expect(await store.listArtifacts('s3://bucket/1/run/artifacts')).toEqual([]);
    expect(await store.listArtifacts('file:///etc')).toEqual([]);
    expect(await store.listArtifacts('mlflow-artifacts:/../..')).toEqual([]);

    // A client-chosen path is checked.
    for (const p of ['../..', '../../../etc/passwd', '/etc', 'C:\\']) {
      expect(await errorCode(store.listArtifacts(runUri, p)), p).toBe('INVALID_PARAMETER_VALUE');
    }
    expect(store.resolveArtifactPath(runUri, 'model/MLmodel')).toBe('1/run/artifacts/model/MLmodel');
    expect(store.resolveArtifactPath('s3://b/x', 'a')).toBeUndefined();
    expect(() => store.resolveArtifactPath(runUri, '../x')).toThrow(FlywheelError);
  });
});
