import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FlywheelError, invalidParameter, notFound } from '../../core/errors.js';
import { safeRelativePath } from '../../artifacts/paths.js';
import type { ArtifactRepository } from '../../artifacts/types.js';

/** Where content-addressed artifacts live in the repository. */
export const CAS_ROOT = 'cas';
const READ_CHUNK = 1 << 20;
const SHA256_HEX = /^[0-9a-f]{64}$/;

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

const byPath = (a: StoredFile, b: StoredFile) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

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
 * Directories stored once per content hash in an ArtifactRepository: files under `cas/<hash[0:2]>/<hash>/`,
 * then a manifest `cas/<hash[0:2]>/<hash>.manifest.json` listing them, written last.
 */
export class ContentAddressedStore {
  constructor(readonly repository: ArtifactRepository) {}

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

  /** The manifest of a stored hash; undefined when absent or unreadable. */
  async manifest(hash: string): Promise<CasManifest | undefined> {
    let stream: Readable;
    try {
      ({ stream } = await this.repository.read(this.manifestPath(hash)));
    } catch (e) {
      if (e instanceof FlywheelError && e.code === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw e;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as CasManifest;
      if (parsed.hash !== hash || !Array.isArray(parsed.files)) return undefined;
      return parsed;
    } catch {
      return undefined;
    }
  }

  /** True when every file of `hash` is stored, nothing else is, and the content still hashes to `hash`. */
  async verify(hash: string): Promise<boolean> {
    const manifest = await this.manifest(hash);
    if (!manifest) return false;
    const root = this.pathOf(hash);
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

function checkHash(hash: string): void {
  if (typeof hash !== 'string' || !SHA256_HEX.test(hash)) throw invalidParameter(`Invalid content hash '${String(hash)}'`);
}
