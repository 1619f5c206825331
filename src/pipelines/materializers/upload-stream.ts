import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { safeRelativePath } from '../../artifacts/paths.js';
import { invalidParameter } from '../../core/errors.js';
import type { StoredFile } from './content-store.js';

/**
 * The body of `POST /api/v1/artifact-versions` (content type `application/vnd.flywheel.artifact-upload`):
 * one line of JSON (the spec, which lists `files: [{ path, size }]`), a newline, then the bytes of each file
 * in the listed order, back to back. One streamed request, no multipart boundaries to scan for, and sizes
 * known up front so the server stops at the first byte too many or too few.
 */
export const UPLOAD_CONTENT_TYPE = 'application/vnd.flywheel.artifact-upload';

/** The upload body for `spec` (whose `files` are read from `dir`), streamed. */
export async function* encodeUpload(spec: { files: StoredFile[] }, dir: string): AsyncGenerator<Buffer> {
  yield Buffer.from(`${JSON.stringify(spec)}\n`, 'utf8');
  for (const f of spec.files) {
    for await (const chunk of createReadStream(join(dir, ...f.path.split('/')), { highWaterMark: 1 << 20 })) yield chunk as Buffer;
  }
}

export interface UploadLimits {
  /** Bytes of the spec line, at most. */
  maxSpecBytes: number;
  /** Bytes of all files, at most. */
  maxContentBytes: number;
}

/**
 * Reads an upload body: parses the spec line with `parseSpec` and writes each listed file into `destDir`.
 * INVALID_PARAMETER_VALUE when the body is shorter or longer than the spec says, or breaks a limit.
 */
export async function decodeUpload<S extends { files: StoredFile[] }>(
  body: AsyncIterable<Buffer | Uint8Array | string>,
  destDir: string,
  parseSpec: (json: unknown) => S,
  limits: UploadLimits,
): Promise<S> {
  const it = body[Symbol.asyncIterator]();
  let buf: Buffer = Buffer.alloc(0);
  const more = async (): Promise<boolean> => {
    const next = await it.next();
    if (next.done) return false;
    const v = next.value;
    const chunk = typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    return true;
  };

  let nl = buf.indexOf(0x0a);
  while (nl < 0) {
    if (buf.length > limits.maxSpecBytes) throw invalidParameter(`The upload's spec line is longer than ${limits.maxSpecBytes} bytes`);
    if (!(await more())) throw invalidParameter('The upload ended before its spec line');
    nl = buf.indexOf(0x0a);
  }
  if (nl > limits.maxSpecBytes) throw invalidParameter(`The upload's spec line is longer than ${limits.maxSpecBytes} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(buf.subarray(0, nl).toString('utf8'));
  } catch {
    throw invalidParameter("The upload's spec line is not JSON");
  }
  const spec = parseSpec(json);
  buf = buf.subarray(nl + 1);

  const total = spec.files.reduce((n, f) => n + f.size, 0);
  if (total > limits.maxContentBytes) throw invalidParameter(`The upload holds ${total} bytes; the limit is ${limits.maxContentBytes}`);
  const seen = new Set<string>();
  for (const f of spec.files) {
    const rel = safeRelativePath(f.path);
    if (rel !== f.path || rel === '') throw invalidParameter(`Invalid file path in the upload: '${f.path}'`);
    if (seen.has(rel)) throw invalidParameter(`The upload lists '${rel}' twice`);
    seen.add(rel);
    const target = join(destDir, ...rel.split('/'));
    try {
      await mkdir(dirname(target), { recursive: true });
    } catch {
      throw invalidParameter(`The upload lists '${rel}' inside a path that is also a file`);
    }
    const out = createWriteStream(target, { flags: 'wx' });
    const opened = once(out, 'open').catch(() => undefined);
    const failed = new Promise<never>((_, reject) =>
      out.once('error', (e: NodeJS.ErrnoException) =>
        reject(e.code === 'EEXIST' || e.code === 'EISDIR' ? invalidParameter(`The upload lists '${rel}' as a file and as a directory`) : e),
      ),
    );
    failed.catch(() => undefined);
    await Promise.race([opened, failed]);
    try {
      let left = f.size;
      while (left > 0) {
        if (!buf.length && !(await more())) throw invalidParameter(`The upload ended inside '${rel}' (${left} of ${f.size} bytes missing)`);
        const take = buf.subarray(0, Math.min(left, buf.length));
        buf = buf.subarray(take.length);
        left -= take.length;
        if (!out.write(take)) await once(out, 'drain');
      }
    } finally {
      out.end();
      await once(out, 'close');
    }
  }
  if (buf.length || (await more())) throw invalidParameter('The upload holds more bytes than its spec lists');
  return spec;
}
