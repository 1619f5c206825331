import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FlywheelError, invalidParameter, notFound } from '../../core/errors.js';
import { LocalArtifactRepository } from '../../artifacts/local-repository.js';
import { safeRelativePath } from '../../artifacts/paths.js';
import type { ArtifactRepository } from '../../artifacts/types.js';
import { LocalCasFiles, type FileBytes } from './local-cas-files.js';

export type { FileBytes } from './local-cas-files.js';

/** Where content-addressed artifacts live in the repository. */
export const CAS_ROOT = 'cas';
const READ_CHUNK = 1 << 20;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Content up to this size is checked with synchronous reads when it is stored again (see verifySmallNow). */
const SMALL_VERIFY_NOW = 256 << 10;

export interface StoredFile {
  /** Relative, `/`-separated. */
  path: string;
  size: number;
}

/** Written after all files, so its presence marks a complete copy. */
export interface CasManifest {
  hash: string;
  size: number;
  files: StoredFile[];
}

export interface StoredContent {
  /** sha256 (hex) of the directory's content, see `hashDirectory`. */
  hash: string;
  /** Total bytes of all files. */
  size: number;
  /** The repository path of the stored directory, `cas/<hash[0:2]>/<hash>`. */
  uri: string;
  /** False when identical content was already stored and intact (nothing written). */
  written: boolean;
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** One file's framing in the directory hash: path and size first, so names and boundaries count. */
function hashHeader(hash: Hash, file: StoredFile): void {
  hash.update(`${file.path}\0${file.size}\0`);
}

/** The regular files under `dir`, sorted by path; links and special files are refused. */
export async function listDirectoryFiles(dir: string): Promise<StoredFile[]> {
  const out: StoredFile[] = [];
  async function walk(abs: string, rel: string): Promise<void> {
    for (const entry of await readdir(abs, { withFileTypes: true })) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const childAbs = join(abs, entry.name);
      if (entry.isDirectory()) await walk(childAbs, childRel);
      else if (entry.isFile()) {
        if (safeRelativePath(childRel) !== childRel) throw invalidParameter(`Unsupported file name in an artifact: '${childRel}'`);
        out.push({ path: childRel, size: (await lstat(childAbs)).size });
      } else {
        throw invalidParameter(`Artifacts may hold only regular files and directories; '${childRel}' is not one`);
      }
    }
  }
  await walk(dir, '');
  return out.sort(byPath);
}

/**
 * sha256 over the sorted files of `files`, each framed as `path NUL size NUL bytes`. Reads each file as a
 * stream, so memory does not grow with the content. Throws if a file changes size while it is hashed.
 */
async function hashFiles(files: StoredFile[], open: (file: StoredFile) => Promise<Readable>): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    hashHeader(hash, file);
    let read = 0;
    for await (const chunk of await open(file)) {
      hash.update(chunk as Buffer);
      read += (chunk as Buffer).length;
    }
    if (read !== file.size) throw new SizeMismatch(file, read);
  }
  return hash.digest('hex');
}

class SizeMismatch extends Error {
  constructor(readonly file: StoredFile, readonly read: number) {
    super(`'${file.path}' has ${read} bytes, expected ${file.size}`);
  }
}

/** The content hash of a local directory (the hash `ContentAddressedStore.put` would store it under). */
export async function hashDirectory(dir: string): Promise<{ hash: string; size: number; files: StoredFile[] }> {
  const files = await listDirectoryFiles(dir);
  try {
    const hash = await hashFiles(files, async (f) => createReadStream(join(dir, f.path), { highWaterMark: READ_CHUNK }));
    return { hash, size: files.reduce((n, f) => n + f.size, 0), files };
  } catch (e) {
    if (e instanceof SizeMismatch) throw new FlywheelError('ABORTED', `File changed while it was hashed: ${e.message}`);
    throw e;
  }
}

/**
 * The content hash of files held in memory, as `hashDirectory` would compute it had they been written to a
 * directory. Paths must be normalised relative paths (`safeRelativePath` leaves them unchanged), distinct.
 */
export function hashFileBytes(files: FileBytes[]): { hash: string; size: number; files: StoredFile[]; sorted: FileBytes[] } {
  const sorted = [...files].sort(byPath);
  const hash = createHash('sha256');
  let size = 0;
  for (let i = 0; i < sorted.length; i++) {
    const f = sorted[i];
    if (safeRelativePath(f.path) !== f.path || f.path === '') throw invalidParameter(`Unsupported file name in an artifact: '${f.path}'`);
    if (i > 0 && sorted[i - 1].path === f.path) throw invalidParameter(`Duplicate file name in an artifact: '${f.path}'`);
    hashHeader(hash, { path: f.path, size: f.bytes.length });
    hash.update(f.bytes);
    size += f.bytes.length;
  }
  return { hash: hash.digest('hex'), size, files: sorted.map((f) => ({ path: f.path, size: f.bytes.length })), sorted };
}

/** One LocalCasFiles per repository, so its resolved root is shared by every store over it. */
const localFiles = new WeakMap<LocalArtifactRepository, LocalCasFiles>();

function localFilesOf(repository: ArtifactRepository): LocalCasFiles | undefined {
  if (!(repository instanceof LocalArtifactRepository)) return undefined;
  let files = localFiles.get(repository);
  if (!files) localFiles.set(repository, (files = new LocalCasFiles(repository)));
  return files;
}

/** Puts in progress per repository and hash: a second put of the same content waits for the first. */
const putsInProgress = new WeakMap<ArtifactRepository, Map<string, Promise<unknown>>>();

/**
 * Runs `fn` after any put of `hash` in this process has finished: two steps returning the same value at once
 * must not delete each other's half-written copy.
 */
async function oneAtATime<T>(repository: ArtifactRepository, hash: string, fn: () => Promise<T>): Promise<T> {
  let puts = putsInProgress.get(repository);
  if (!puts) putsInProgress.set(repository, (puts = new Map()));
  const before = puts.get(hash);
  const mine = (before ?? Promise.resolve()).catch(() => undefined).then(fn);
  const settled = mine.catch(() => undefined);
  puts.set(hash, settled);
  try {
    return await mine;
  } finally {
    if (puts.get(hash) === settled) puts.delete(hash);
  }
}

/**
 * Directories stored once per content hash in an ArtifactRepository: files under `cas/<hash[0:2]>/<hash>/`,
 * then a manifest `cas/<hash[0:2]>/<hash>.manifest.json` listing them, written last.
 */
export class ContentAddressedStore {
  /** Direct file access when the repository is local (paths here are generated, not a client's). */
  readonly #local: LocalCasFiles | undefined;

  constructor(readonly repository: ArtifactRepository) {
    this.#local = localFilesOf(repository);
  }

  /** The repository path of `hash`'s directory. */
  pathOf(hash: string): string {
    checkHash(hash);
    return `${CAS_ROOT}/${hash.slice(0, 2)}/${hash}`;
  }

  private manifestPath(hash: string): string {
    return `${this.pathOf(hash)}.manifest.json`;
  }

  /** Hashes `dir` and stores its files unless an intact copy of the same content is already stored. */
  async put(dir: string): Promise<StoredContent> {
    const { hash, size, files } = await hashDirectory(dir);
    return oneAtATime(this.repository, hash, () => this.putDirectory(dir, hash, size, files));
  }

  private async putDirectory(dir: string, hash: string, size: number, files: StoredFile[]): Promise<StoredContent> {
    const uri = this.pathOf(hash);
    if (await this.verify(hash)) return { hash, size, uri, written: false };
    // Whatever is there is incomplete or damaged: start over, so no stray file survives.
    await this.repository.delete(this.manifestPath(hash));
    await this.repository.delete(uri);
    for (const file of files) {
      await this.repository.write(`${uri}/${file.path}`, createReadStream(join(dir, file.path), { highWaterMark: READ_CHUNK }));
    }
    const manifest: CasManifest = { hash, size, files };
    await this.repository.write(this.manifestPath(hash), Buffer.from(JSON.stringify(manifest)));
    return { hash, size, uri, written: true };
  }

  /**
   * Stores files held in memory (a small value's serialization) under their content hash, unless an intact
   * copy is already stored: hashed in memory, written straight to their place (no temp directory).
   */
  async putBytes(files: FileBytes[]): Promise<StoredContent> {
    const { hash, size, files: listed, sorted } = hashFileBytes(files);
    return oneAtATime(this.repository, hash, () => this.putHashed(hash, size, listed, sorted));
  }

  private async putHashed(hash: string, size: number, listed: StoredFile[], sorted: FileBytes[]): Promise<StoredContent> {
    const uri = this.pathOf(hash);
    const manifest = Buffer.from(JSON.stringify({ hash, size, files: listed } satisfies CasManifest));
    const local = this.#local;
    if (local) {
      // New content (the common case) is known by its directory not existing yet: no lookup before writing.
      if ((await local.storeNew(uri, sorted, this.manifestPath(hash), manifest)) === 'exists') {
        const intact = size <= SMALL_VERIFY_NOW ? this.verifySmallNow(local, hash, uri) : await this.verify(hash);
        if (intact) return { hash, size, uri, written: false };
        // Whatever is there is incomplete or damaged: start over, so no stray file survives.
        await local.remove(this.manifestPath(hash));
        await local.remove(uri);
        if ((await local.storeNew(uri, sorted, this.manifestPath(hash), manifest)) === 'exists') {
          throw new FlywheelError('ABORTED', `Another writer is storing artifact ${hash}; try again`);
        }
      }
      return { hash, size, uri, written: true };
    }
    if (await this.verify(hash)) return { hash, size, uri, written: false };
    await this.repository.delete(this.manifestPath(hash));
    await this.repository.delete(uri);
    for (const f of sorted) await this.repository.write(`${uri}/${f.path}`, f.bytes);
    await this.repository.write(this.manifestPath(hash), manifest);
    return { hash, size, uri, written: true };
  }

  /**
   * The bytes of `hash` when it is stored as the single file `path`, checked against the hash (DATA_LOSS if
   * damaged or missing, RESOURCE_DOES_NOT_EXIST if not stored); undefined when it is stored as other files.
   */
  async readSingleFile(hash: string, path: string): Promise<Buffer | undefined> {
    const manifest = await this.manifest(hash);
    if (!manifest) throw notFound(`No stored artifact with content hash ${hash}`);
    if (manifest.files.length !== 1 || manifest.files[0].path !== path) return undefined;
    const rel = `${this.pathOf(hash)}/${path}`;
    let bytes: Buffer | undefined;
    if (this.#local) {
      bytes = await this.#local.readFile(rel);
    } else {
      try {
        const chunks: Buffer[] = [];
        for await (const chunk of (await this.repository.read(rel)).stream) chunks.push(chunk as Buffer);
        bytes = Buffer.concat(chunks);
      } catch (e) {
        if (!(e instanceof FlywheelError && e.code === 'RESOURCE_DOES_NOT_EXIST')) throw e;
      }
    }
    if (!bytes) throw new FlywheelError('DATA_LOSS', `Artifact ${hash} is damaged: '${path}' is missing`);
    if (bytes.length !== manifest.files[0].size) {
      throw new FlywheelError('DATA_LOSS', `Artifact ${hash} is damaged: '${path}' has ${bytes.length} bytes, expected ${manifest.files[0].size}`);
    }
    if (hashFileBytes([{ path, bytes }]).hash !== hash) {
      throw new FlywheelError('DATA_LOSS', `Artifact ${hash} is damaged: its content no longer matches its hash`);
    }
    return bytes;
  }

  /** The manifest of a stored hash; undefined when absent or unreadable. */
  async manifest(hash: string): Promise<CasManifest | undefined> {
    if (this.#local) return parseManifest(hash, await this.#local.readFile(this.manifestPath(hash)));
    let stream: Readable;
    try {
      ({ stream } = await this.repository.read(this.manifestPath(hash)));
    } catch (e) {
      if (e instanceof FlywheelError && e.code === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw e;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return parseManifest(hash, Buffer.concat(chunks));
  }

  /** True when every file of `hash` is stored, nothing else is, and the content still hashes to `hash`. */
  async verify(hash: string): Promise<boolean> {
    const manifest = await this.manifest(hash);
    if (!manifest) return false;
    const root = this.pathOf(hash);
    if (this.#local) return this.verifyLocal(this.#local, hash, root, manifest);
    const stored = await this.listStored(root);
    if (stored.length !== manifest.files.length) return false;
    const files = [...manifest.files].sort(byPath);
    for (let i = 0; i < files.length; i++) {
      if (stored[i].path !== files[i].path || stored[i].size !== files[i].size) return false;
    }
    try {
      return (await hashFiles(files, async (f) => (await this.repository.read(`${root}/${f.path}`)).stream)) === hash;
    } catch (e) {
      if (e instanceof SizeMismatch) return false;
      if (e instanceof FlywheelError && e.code === 'RESOURCE_DOES_NOT_EXIST') return false;
      throw e;
    }
  }

  /**
   * Downloads `hash` into `destDir` (created if needed), checking the content hash on the way; DATA_LOSS if
   * the stored copy is damaged, RESOURCE_DOES_NOT_EXIST if it is not stored.
   */
  async get(hash: string, destDir: string): Promise<CasManifest> {
    const manifest = await this.manifest(hash);
    if (!manifest) throw notFound(`No stored artifact with content hash ${hash}`);
    const root = this.pathOf(hash);
    const files = [...manifest.files].sort(byPath);
    const digest = createHash('sha256');
    await mkdir(destDir, { recursive: true });
    for (const file of files) {
      const rel = safeRelativePath(file.path);
      if (rel !== file.path) throw new FlywheelError('DATA_LOSS', `Artifact ${hash} lists an invalid path '${file.path}'`);
      const target = join(destDir, ...rel.split('/'));
      await mkdir(dirname(target), { recursive: true });
      let stream: Readable;
      try {
        ({ stream } = await this.repository.read(`${root}/${rel}`));
      } catch (e) {
        if (e instanceof FlywheelError && e.code === 'RESOURCE_DOES_NOT_EXIST') {
          throw new FlywheelError('DATA_LOSS', `Artifact ${hash} is damaged: '${rel}' is missing`);
        }
        throw e;
      }
      hashHeader(digest, file);
      let read = 0;
      await pipeline(
        stream,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            digest.update(chunk);
            read += chunk.length;
            yield chunk;
          }
        },
        createWriteStream(target),
      );
      if (read !== file.size) {
        throw new FlywheelError('DATA_LOSS', `Artifact ${hash} is damaged: '${rel}' has ${read} bytes, expected ${file.size}`);
      }
    }
    if (digest.digest('hex') !== hash) throw new FlywheelError('DATA_LOSS', `Artifact ${hash} is damaged: its content no longer matches its hash`);
    return manifest;
  }

  /**
   * `verify` of content known to be small (it hashed to `hash` from that few bytes in memory), with
   * synchronous reads: storing a value already stored (many steps returning the same small value) then costs
   * microseconds. Anything unexpected (a manifest listing other sizes) reads as not intact: rewritten.
   */
  private verifySmallNow(local: LocalCasFiles, hash: string, root: string): boolean {
    const manifest = parseManifest(hash, local.readFileNow(this.manifestPath(hash)));
    if (!manifest) return false;
    const files = [...manifest.files].sort(byPath);
    let total = 0;
    for (const f of files) {
      if (typeof f.path !== 'string' || safeRelativePath(f.path) !== f.path || f.path === '' || typeof f.size !== 'number') return false;
      total += f.size;
    }
    if (total > SMALL_VERIFY_NOW) return false;
    const stored = local.listTreeNow(root);
    if (!stored || stored.length !== files.length) return false;
    stored.sort(byPath);
    for (let i = 0; i < files.length; i++) if (stored[i].path !== files[i].path) return false;
    const digest = createHash('sha256');
    for (const file of files) {
      const bytes = local.readFileNow(`${root}/${file.path}`);
      if (!bytes || bytes.length !== file.size) return false;
      hashHeader(digest, file);
      digest.update(bytes);
    }
    return digest.digest('hex') === hash;
  }

  /** `verify` with direct file access: one listing of the directory, then each file read once. */
  private async verifyLocal(local: LocalCasFiles, hash: string, root: string, manifest: CasManifest): Promise<boolean> {
    const files = [...manifest.files].sort(byPath);
    for (const f of files) {
      if (typeof f.path !== 'string' || safeRelativePath(f.path) !== f.path || f.path === '' || typeof f.size !== 'number') return false;
    }
    const stored = await local.listTree(root);
    if (!stored || stored.length !== files.length) return false;
    stored.sort(byPath);
    for (let i = 0; i < files.length; i++) if (stored[i].path !== files[i].path) return false;
    const digest = createHash('sha256');
    for (const file of files) {
      hashHeader(digest, file);
      if ((await local.hashInto(`${root}/${file.path}`, file.size, digest)) !== file.size) return false;
    }
    return digest.digest('hex') === hash;
  }

  /** Removes a stored hash: the manifest first (so a half-removed copy never verifies), then its files. */
  async remove(hash: string): Promise<void> {
    await this.repository.delete(this.manifestPath(hash));
    await this.repository.delete(this.pathOf(hash));
  }

  /** Every file under `root`, relative to it, sorted. */
  private async listStored(root: string): Promise<StoredFile[]> {
    const out: StoredFile[] = [];
    const pending = [root];
    while (pending.length > 0) {
      const dir = pending.pop()!;
      for (const entry of await this.repository.list(dir)) {
        if (entry.is_dir) pending.push(entry.path);
        else out.push({ path: entry.path.slice(root.length + 1), size: entry.file_size ?? -1 });
      }
    }
    return out.sort(byPath);
  }
}

function parseManifest(hash: string, bytes: Buffer | undefined): CasManifest | undefined {
  if (!bytes) return undefined;
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as CasManifest;
    if (parsed.hash !== hash || !Array.isArray(parsed.files)) return undefined;
    return parsed;
  } catch {
    return undefined;
  }
}

function checkHash(hash: string): void {
  if (typeof hash !== 'string' || !SHA256_HEX.test(hash)) throw invalidParameter(`Invalid content hash '${String(hash)}'`);
}
