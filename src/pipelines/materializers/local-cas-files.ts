import { closeSync, constants, fsync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Hash } from 'node:crypto';
import { syncDir, TEMP_FILE, tempFilePath, writeAll } from '../../artifacts/durable-files.js';
import type { LocalArtifactRepository } from '../../artifacts/local-repository.js';

/** Files at most this large are read in one call; larger ones in chunks of this size. */
const WHOLE_READ_MAX = 8 << 20;
/** No symbolic link followed; a FIFO planted in the store does not block the open. */
const OPEN_FOR_READING = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/**
 * Content up to this size is stored with synchronous metadata calls (see `storeSmall`); larger content with
 * asynchronous ones.
 */
const SMALL_CONTENT = 256 << 10;
const fsyncFd = promisify(fsync);

/** A missing file, or a path that is not a plain file (a directory, a symbolic link, a dangling parent). */
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EISDIR', 'EAGAIN']);

/** One file to store: its relative path in the content directory and its bytes. */
export interface FileBytes {
  path: string;
  bytes: Buffer;
}

/**
 * The content-addressed store's file access in a LocalArtifactRepository, without the repository's
 * per-access path checks. Every path given here is built by the content-addressed store itself
 * (`cas/<hh>/<hash>` from a checked hex hash, plus manifest paths that passed `safeRelativePath`), so the
 * root is resolved once and paths are joined to it; files are opened with O_NOFOLLOW, so a symbolic link
 * planted where a stored file should be is never followed (it reads as absent).
 */
export class LocalCasFiles {
  constructor(readonly repository: LocalArtifactRepository) {}

  private async abs(rel: string, create = false): Promise<string | undefined> {
    const root = await this.repository.resolvedRoot(create);
    return root === undefined ? undefined : join(root, ...rel.split('/'));
  }

  /** The whole file, or undefined when it is absent (or not a regular file). */
  async readFile(rel: string): Promise<Buffer | undefined> {
    const abs = await this.abs(rel);
    if (!abs) return undefined;
    try {
      return await readFile(abs, { flag: OPEN_FOR_READING });
    } catch (e) {
      if (ABSENT.has(errno(e) ?? '')) return undefined;
      throw e;
    }
  }

  /**
   * Feeds the file's bytes to `hash` and returns how many there were (at most `expectedSize` + 1: more is
   * a mismatch anyway); undefined when the file is absent. A file of the expected size up to 8 MB is read in
   * one call; larger ones in chunks (memory stays bounded).
   */
  async hashInto(rel: string, expectedSize: number, hash: Hash): Promise<number | undefined> {
    const abs = await this.abs(rel);
    if (!abs) return undefined;
    let fh;
    try {
      fh = await open(abs, OPEN_FOR_READING);
    } catch (e) {
      if (ABSENT.has(errno(e) ?? '')) return undefined;
      throw e;
    }
    try {
      const buf = Buffer.allocUnsafe(Math.min(expectedSize, WHOLE_READ_MAX) + 1);
      let read = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) return read;
        hash.update(buf.subarray(0, bytesRead));
        read += bytesRead;
        if (read > expectedSize) return read;
      }
    } catch (e) {
      if (ABSENT.has(errno(e) ?? '')) return undefined;
      throw e;
    } finally {
      await fh.close();
    }
  }

  /**
   * Every regular file under `rel`, relative to it (in-progress temp files skipped); undefined
   * when `rel` is absent or holds anything but regular files and directories (a link, a socket): such a
   * copy is not one the store wrote.
   */
  async listTree(rel: string): Promise<{ path: string }[] | undefined> {
    const abs = await this.abs(rel);
    if (!abs) return undefined;
    const out: { path: string }[] = [];
    const walk = async (dir: string, prefix: string): Promise<boolean> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (ABSENT.has(errno(e) ?? '')) return false;
        throw e;
      }
      for (const entry of entries) {
        if (TEMP_FILE.test(entry.name)) continue;
        const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
        if (entry.isDirectory()) {
          if (!(await walk(join(dir, entry.name), path))) return false;
        } else if (entry.isFile()) {
          out.push({ path });
        } else {
          return false;
        }
      }
      return true;
    };
    if (!(await walk(abs, ''))) return undefined;
    return out;
  }

  /**
   * `readFile` made synchronously, for files known to be small (a manifest, a small value's file): a read
   * from the page cache takes microseconds, less than a thread pool round trip.
   */
  readFileNow(rel: string): Buffer | undefined {
    const root = this.repository.resolvedRootIfKnown();
    if (root === undefined) return undefined;
    let fd: number;
    try {
      fd = openSync(join(root, ...rel.split('/')), OPEN_FOR_READING);
    } catch (e) {
      if (ABSENT.has(errno(e) ?? '')) return undefined;
      throw e;
    }
    try {
      return readFileSync(fd);
    } catch (e) {
      if (ABSENT.has(errno(e) ?? '')) return undefined;
      throw e;
    } finally {
      closeSync(fd);
    }
  }

  /** `listTree` made synchronously, for a directory known to hold few files. */
  listTreeNow(rel: string): { path: string }[] | undefined {
    const root = this.repository.resolvedRootIfKnown();
    if (root === undefined) return undefined;
    const out: { path: string }[] = [];
    const walk = (dir: string, prefix: string): boolean => {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch (e) {
        if (ABSENT.has(errno(e) ?? '')) return false;
        throw e;
      }
      for (const entry of entries) {
        if (TEMP_FILE.test(entry.name)) continue;
        const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
        if (entry.isDirectory()) {
          if (!walk(join(dir, entry.name), path)) return false;
        } else if (entry.isFile()) {
          out.push({ path });
        } else {
          return false;
        }
      }
      return true;
    };
    return walk(join(root, ...rel.split('/')), '') ? out : undefined;
  }

  /** Removes a file or tree; no error if absent. */
  async remove(rel: string): Promise<void> {
    const abs = await this.abs(rel);
    if (abs) await rm(abs, { recursive: true, force: true });
  }

  /**
   * `storeNew` for small content, in the same order with the same guarantees, but with every step except
   * the fsyncs made synchronously: creating a directory, writing a few kilobytes into the page cache and
   * renaming take microseconds, less than handing each to the thread pool and waiting for its answer
   * (which, on a busy machine, is most of the cost). The fsyncs, which wait on the disk, stay asynchronous
   * and are issued at once.
   */
  private async storeSmall(dirRel: string, files: FileBytes[], manifestRel: string, manifest: Buffer): Promise<'stored' | 'exists'> {
    const dir = (await this.abs(dirRel, true))!;
    const manifestPath = (await this.abs(manifestRel, true))!;
    const manifestDir = dirname(manifestPath);
    const toSync = new Set<string>([manifestDir]);
    const makeDir = (d: string) => {
      const first = mkdirSync(d, { recursive: true });
      if (first === undefined) return;
      for (let c = d; ; c = dirname(c)) {
        toSync.add(dirname(c));
        if (c === first || dirname(c) === c) break;
      }
    };
    try {
      mkdirSync(dir);
    } catch (e) {
      if (errno(e) === 'EEXIST') return 'exists';
      if (errno(e) !== 'ENOENT') throw e;
      makeDir(dir); // the first copy under this `cas/<hh>` (or at all)
    }
    const fds: number[] = [];
    const writeNew = (path: string, bytes: Buffer) => {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      fds.push(fd);
      for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    };
    const manifestTemp = tempFilePath(manifestDir);
    let placed = false;
    try {
      for (const f of files) {
        const target = join(dir, ...f.path.split('/'));
        if (dirname(target) !== dir) makeDir(dirname(target));
        toSync.add(dirname(target));
        writeNew(target, f.bytes);
      }
      writeNew(manifestTemp, manifest);
      renameSync(manifestTemp, manifestPath);
      placed = true;
      const dirFds = [...toSync].map((d) => openDirForSync(d));
      try {
        await Promise.all([...fds.map((fd) => fsyncFd(fd)), ...dirFds.map((fd) => (fd === undefined ? undefined : fsyncFd(fd).catch(() => undefined)))]);
      } catch (e) {
        // Not known to be on disk: no manifest may claim it is (a later put would trust it and skip).
        rmSync(manifestPath, { force: true });
        throw e;
      } finally {
        for (const fd of dirFds) if (fd !== undefined) closeSync(fd);
      }
      return 'stored';
    } finally {
      for (const fd of fds) closeSync(fd);
      if (!placed) rmSync(manifestTemp, { force: true });
    }
  }

  /**
   * Stores `files` in the new directory `dirRel` and `manifest` at `manifestRel` (its sibling), durably and
   * with a single round of waiting on the disk; 'exists' (nothing written) when `dirRel` already exists,
   * which the caller then checks or clears. The directory's creation is the test for new content, made
   * while the manifest is already being written.
   *
   * The files go straight to their place in the new directory (nothing reads it before its manifest
   * exists); the manifest is written to a temp file and renamed into place once they are complete, so a
   * reader never sees a torn manifest nor one whose files are still being written. Then the files, the
   * manifest, and every directory whose entries changed are fsynced at once, and only then does this
   * return: whatever records the content afterwards refers to a copy that is on disk. A crash before that
   * can leave a manifest whose files did not all reach the disk: such a copy never verifies (`verify`
   * re-hashes) and the next put rewrites it.
   */
  async storeNew(dirRel: string, files: FileBytes[], manifestRel: string, manifest: Buffer): Promise<'stored' | 'exists'> {
    if (files.reduce((n, f) => n + f.bytes.length, 0) <= SMALL_CONTENT) return this.storeSmall(dirRel, files, manifestRel, manifest);
    const dir = (await this.abs(dirRel, true))!;
    const manifestPath = (await this.abs(manifestRel, true))!;
    const manifestDir = dirname(manifestPath);
    // Directories whose entries change: the manifest's, each holding a file, the parent of each created.
    const toSync = new Set<string>([manifestDir]);
    const makeDir = async (d: string) => {
      const first = await mkdir(d, { recursive: true });
      if (first === undefined) return;
      for (let c = d; ; c = dirname(c)) {
        toSync.add(dirname(c));
        if (c === first || dirname(c) === c) break;
      }
    };
    /** False when `dir` already existed. */
    const createDir = async (): Promise<boolean> => {
      try {
        await mkdir(dir);
        return true;
      } catch (e) {
        if (errno(e) === 'EEXIST') return false;
        if (errno(e) !== 'ENOENT') throw e;
      }
      await makeDir(dir); // the first copy under this `cas/<hh>` (or at all)
      return true;
    };
    const targets = files.map((f) => join(dir, ...f.path.split('/')));
    const manifestTemp = tempFilePath(manifestDir);
    // Open until synced: fsync goes to the handle that wrote.
    const handles: FileHandle[] = [];
    const writeNew = async (path: string, bytes: Buffer) => {
      const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      handles.push(fh);
      await writeAll(fh, bytes);
    };
    const writeFiles = async (): Promise<boolean> => {
      if (!(await createDir())) return false;
      for (const t of targets) {
        toSync.add(dirname(t));
        if (dirname(t) !== dir) await makeDir(dirname(t));
      }
      await Promise.all(files.map((f, i) => writeNew(targets[i], f.bytes)));
      return true;
    };
    const writeManifest = async () => {
      try {
        await writeNew(manifestTemp, manifest);
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw e;
        await makeDir(manifestDir);
        await writeNew(manifestTemp, manifest);
      }
    };
    let placed = false;
    try {
      // Settled, not raced: no file may be created after a failure's cleanup.
      const [filesWritten, manifestWritten] = await Promise.allSettled([writeFiles(), writeManifest()]);
      if (filesWritten.status === 'rejected') throw filesWritten.reason;
      if (manifestWritten.status === 'rejected') throw manifestWritten.reason;
      if (!filesWritten.value) return 'exists';
      await rename(manifestTemp, manifestPath);
      placed = true;
      try {
        await Promise.all([...handles.map((fh) => fh.sync()), ...[...toSync].map(syncDir)]);
      } catch (e) {
        // Not known to be on disk: no manifest may claim it is (a later put would trust it and skip).
        await rm(manifestPath, { force: true }).catch(() => undefined);
        throw e;
      }
      return 'stored';
    } finally {
      await Promise.all(handles.map((fh) => fh.close().catch(() => undefined)));
      if (!placed) await rm(manifestTemp, { force: true }).catch(() => undefined);
    }
  }
}

/** A directory's descriptor for fsync; undefined where directories cannot be opened (best effort, as syncDir). */
function openDirForSync(dir: string): number | undefined {
  try {
    return openSync(dir, constants.O_RDONLY);
  } catch {
    return undefined;
  }
}
