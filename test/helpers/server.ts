import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server/index.js';
import type { StoreDialect } from '../../src/store/index.js';
import { freshPostgresUri } from './stores.js';

export interface TestServer extends RunningServer {
  artifactsDir: string;
  /** Calls an MLflow endpoint: GET params go to the query string, others to a JSON body. */
  call(method: string, path: string, params?: Record<string, unknown>, headers?: Record<string, string>): Promise<{ status: number; type: string; json: any; text: string }>;
}

/** A real Flywheel server on a free port, over a fresh store of the given dialect. */
export async function startTestServer(dialect: StoreDialect = 'sqlite'): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'flywheel-srv-'));
  const pgdb = dialect === 'postgres' ? await freshPostgresUri() : undefined;
  const server = await startServer({
    backendStoreUri: pgdb ? pgdb.uri : `sqlite:${join(dir, 'flywheel.db')}`,
    artifactsDestination: join(dir, 'artifacts'),
    port: 0,
    logLevel: 'silent',
  });
  return {
    ...server,
    artifactsDir: join(dir, 'artifacts'),
    async close() {
      await server.close();
      await pgdb?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
    async call(method, path, params = {}, headers = {}) {
      const url = new URL(path.startsWith('/') ? path : `/api/2.0/mlflow/${path}`, server.url);
      let body: string | undefined;
      if (method === 'GET') {
        for (const [k, v] of Object.entries(params)) {
          for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(item));
        }
      } else {
        body = JSON.stringify(params);
        headers = { 'content-type': 'application/json', ...headers };
      }
      const res = await fetch(url, { method, headers, body });
      const text = await res.text();
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, type: res.headers.get('content-type') ?? '', json, text };
    },
  };
}
