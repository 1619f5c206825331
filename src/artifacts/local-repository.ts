import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { FlywheelError, invalidParameter, notFound } from '../core/errors.js';
import { syncDir, TEMP_FILE, tempFilePath, writeAll } from './durable-files.js';
import { containedPath, isInside, joinRelative, safeRelativePath } from './paths.js';
import type { ArtifactRepository, FileInfo } from './types.js';

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/**
 * Artifacts in a local directory. Every path is checked by safeRelativePath and resolved with containedPath
 * (symbolic links leading out of the root are refused). Writes stream into a temp file in the target
 * directory, are fsynced, then renamed into place, so readers never see a partial file and an acknowledged
 * upload survives a crash; memory use does not depend on the file size.
 */
export class LocalArtifactRepository implements ArtifactRepository {
  readonly root: string;
  #resolvedRoot: string | undefined;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /**
   * The root's real path, resolved once it exists (created if `create`), then remembered. For callers that
   * build paths themselves from parts they generated (the content-addressed store's `cas/<hh>/<hash>`), so
   * that each access needs no realpath; paths from clients keep going through `containedPath`.
   */
  /** The root's real path if `resolvedRoot` has resolved it already. */
  resolvedRootIfKnown(): string | undefined {
    return this.#resolvedRoot;
  }

  async resolvedRoot(create = false): Promise<string | undefined> {
    if (this.#resolvedRoot) return this.#resolvedRoot;
    const real = await this.realRoot(create);
    if (real) this.#resolvedRoot = real;
    return real;
  }

  /** The real path of the root; undefined when it does not exist (unless `create`). */
  private async realRoot(create = false): Promise<string | undefined> {
    if (create) await mkdir(this.root, { recursive: true });
    try {
      return await realpath(this.root);
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw e;
    }
  }

  async list(dir: string): Promise<FileInfo[]> {
    const rel = safeRelativePath(dir);
    const root = await this.realRoot();
    if (!root) return [];
    const abs = await containedPath(root, rel, { resolveLast: true });
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (e) {
      if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return [];
      throw e;
    }
    const out: FileInfo[] = [];
    for (const entry of entries) {
      if (TEMP_FILE.test(entry.name)) continue;
      const full = join(abs, entry.name);
      let st;
      try {
        if (entry.isSymbolicLink()) {
          const target = await realpath(full);
          if (!isInside(root, target)) continue; // not part of the store: neither listed nor followed
          st = await stat(target);
        } else {
          st = await lstat(full);
        }
      } catch {
        continue; // vanished meanwhile, or a dangling link
      }
      const path = joinRelative(rel, entry.name);
      if (st.isDirectory()) out.push({ path, is_dir: true });
      else if (st.isFile()) out.push({ path, is_dir: false, file_size: st.size });
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async read(path: string): Promise<{ stream: Readable; size: number }> {
    const rel = safeRelativePath(path);
    const root = await this.realRoot();
    if (!root || rel === '') throw notFound(`No such artifact: '${rel}'`);
    const abs = await containedPath(root, rel, { resolveLast: true });
    let fh;
    try {
      fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(`No such artifact: '${rel}'`);
      if (code === 'ELOOP') throw invalidParameter(`Invalid path: '${rel}' (symbolic link)`);
      throw e;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notFound(`No such artifact file: '${rel}' is a directory`);
      return { stream: fh.createReadStream(), size: st.size };
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async write(path: string, body: Readable | Buffer): Promise<void> {
    const rel = safeRelativePath(path);
    if (rel === '') throw invalidParameter('An artifact path is required');
    const root = (await this.realRoot(true))!;
    const slash = rel.lastIndexOf('/');
    const parentRel = slash === -1 ? '' : rel.slice(0, slash);
    const name = slash === -1 ? rel : rel.slice(slash + 1);

    const parent = await containedPath(root, parentRel, { resolveLast: true });
    try {
      await mkdir(parent, { recursive: true });
    } catch (e) {
      if (errno(e) === 'EEXIST' || errno(e) === 'ENOTDIR') {
        throw invalidParameter(`Invalid path: '${rel}' (a parent is a file)`);
      }
      throw e;
    }
    const realParent = await realpath(parent);
    if (!isInside(root, realParent)) throw invalidParameter(`Invalid path: '${rel}' (leaves the artifact root)`);
    // Refuses a last segment that is a symlink pointing outside; a regular file is replaced by the rename.
    await containedPath(root, rel);
    const target = join(realParent, name);
    const existing = await lstat(target).catch(() => undefined);
    if (existing?.isDirectory()) throw invalidParameter(`Invalid path: '${rel}' is a directory`);

    const tmp = tempFilePath(realParent);
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    let closed = false;
    try {
      if (Buffer.isBuffer(body)) await writeAll(fh, body);
      // One chunk in flight at a time: memory stays at one chunk whatever the upload size.
      else for await (const chunk of body) await writeAll(fh, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      await fh.sync();
      await fh.close();
      closed = true;
      await rename(tmp, target);
    } catch (e) {
      if (!closed) await fh.close().catch(() => undefined);
      await rm(tmp, { force: true }).catch(() => undefined);
      if (e instanceof FlywheelError) throw e;
      if (errno(e) === 'EISDIR') throw invalidParameter(`Invalid path: '${rel}' is a directory`);
      throw e;
    }
    await syncDir(realParent);
  }

  async delete(path: string): Promise<void> {
    const rel = safeRelativePath(path);
    if (rel === '') throw invalidParameter('Refusing to delete the artifact root');
    const root = await this.realRoot();
    if (!root) return;
    const abs = await containedPath(root, rel);
    if (!isInside(root, abs) || abs === root) throw invalidParameter(`Invalid path: '${rel}'`);
    await rm(abs, { recursive: true, force: true });
  }
}
