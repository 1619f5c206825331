import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { artifactContentType } from '../artifacts/mime.js';
import type { ArtifactRepository, FileInfo } from '../artifacts/types.js';
import type { HttpTransport } from './http-transport.js';

export const ARTIFACTS_PROXY_PATH = '/api/2.0/mlflow-artifacts/artifacts';

/** Each segment URL-encoded once: `a b/c#d` → `a%20b/c%23d`. */
export const encodePath = (path: string): string => path.split('/').filter(Boolean).map(encodeURIComponent).join('/');

const joinPath = (...parts: string[]): string => parts.filter(Boolean).join('/').replace(/\/{2,}/g, '/').replace(/^\/|\/$/g, '');

/**
 * The artifact proxy of a tracking server (`/api/2.0/mlflow-artifacts/artifacts/<root>/<path>`), as an
 * `ArtifactRepository` rooted at `root` (e.g. a run's `1/<run id>/artifacts`). Uploads stream from disk.
 */
export class HttpArtifactRepository implements ArtifactRepository {
  constructor(
    private readonly transport: HttpTransport,
    readonly root: string,
  ) {}

  private url(path: string): string {
    return `${ARTIFACTS_PROXY_PATH}/${encodePath(joinPath(this.root, path))}`;
  }

  async list(dir: string): Promise<FileInfo[]> {
    const res = await this.transport.json<{ files?: FileInfo[] }>('GET', ARTIFACTS_PROXY_PATH, {
      query: { path: joinPath(this.root, dir) },
      idempotent: true,
    });
    // The proxy answers base names; callers want paths relative to the root.
    return (res.files ?? []).map((f) => ({ ...f, path: joinPath(dir, f.path.split('/').pop() ?? f.path) }));
  }

  async read(path: string): Promise<{ stream: Readable; size: number }> {
    const res = await this.transport.request('GET', this.url(path), { idempotent: true });
    const size = Number(res.headers.get('content-length') ?? NaN);
    const stream = res.body ? Readable.fromWeb(res.body as unknown as WebReadableStream) : Readable.from([]);
    return { stream, size };
  }

  async write(path: string, body: Readable | Buffer): Promise<void> {
    await this.transport.json('PUT', this.url(path), {
      body: () => body,
      contentType: artifactContentType(path),
      idempotent: true,
      noRetry: !Buffer.isBuffer(body),
    });
  }

  /** Streams a local file to `path`; a retry opens the file again. */
  async writeFile(path: string, localFile: string): Promise<void> {
    await this.transport.json('PUT', this.url(path), {
      body: () => createReadStream(localFile),
      contentType: artifactContentType(path),
      idempotent: true,
    });
  }

  async delete(path: string): Promise<void> {
    await this.transport.json('DELETE', this.url(path), { idempotent: true });
  }
}
