import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createArtifactStore, type ArtifactStore } from '../src/artifacts/index.js';
import { FlywheelError, isFlywheelError, notFound } from '../src/core/index.js';
import { artifactRoutes, UNSUPPORTED_MULTIPART_MESSAGE } from '../src/server/artifact-routes.js';

const RUN_ID = '0123456789abcdef0123456789abcdef';
const PROXY = '/api/2.0/mlflow-artifacts/artifacts';

interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json(): Record<string, unknown>;
}

/** node:http with the exact request target: fetch/URL would normalise `..` and encodings away. */
function request(port: number, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, json: () => JSON.parse(buf.toString()) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A minimal server like the app's: FlywheelErrors answer MLflow JSON. */
async function startServer(artifacts: ArtifactStore, artifactUri?: string): Promise<{ app: FastifyInstance; port: number }> {
  // Close keep-alive sockets on close: a response finishing just as the test closes would keep it 5 s.
  const app = Fastify({ forceCloseConnections: true });
  app.setErrorHandler((err, _req, reply) => {
    const e = isFlywheelError(err) ? err : new FlywheelError('INTERNAL_ERROR', String(err));
    void reply.status(e.status).type('application/json').send(JSON.stringify(e.toJSON()));
  });
  const tracking = {
    // A test double for the tracking service: one run, whose artifact_uri the test chooses.
    async getRun(runId: string) {
      if (runId !== RUN_ID || !artifactUri) throw notFound(`Run with id=${runId} not found`);
      return { info: { artifact_uri: artifactUri } } as unknown as Awaited<ReturnType<NonNullable<Parameters<typeof artifactRoutes>[1]['tracking']>['getRun']>>;
    },
    async getLoggedModel(modelId: string): Promise<never> {
      throw notFound(`Logged model with ID '${modelId}' not found.`);
    },
  };
  await app.register(async (scope) => artifactRoutes(scope, { artifacts, tracking }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.server.address() as AddressInfo).port };
}

function expectInvalid(r: Resp, what: string): void {
  expect(r.status, `${what}: ${r.body.toString()}`).toBe(400);
  expect(r.json().error_code, what).toBe('INVALID_PARAMETER_VALUE');
}

describe('artifact proxy routes', () => {
  let base: string;
  let root: string;
  let app: FastifyInstance;
  let port: number;

  beforeEach(async () => {
    base = mkdtempSync(join(tmpdir(), 'flywheel-art-routes-'));
    root = join(base, 'root');
    ({ app, port } = await startServer(createArtifactStore({ root }), 'mlflow-artifacts:/1/run/artifacts'));
  });
  afterEach(async () => {
    await app.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('round-trips PUT, list, GET and DELETE, nested and binary, under /api and /ajax-api', async () => {
    const binary = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31 + (i >> 8)) % 256));
    for (const prefix of [PROXY, '/ajax-api/2.0/mlflow-artifacts/artifacts']) {
      expect((await request(port, 'PUT', `${prefix}/1/run/artifacts/model/data/w.bin`, binary)).status).toBe(200);
    }
    const put = await request(port, 'PUT', `${PROXY}/1/run/artifacts/model/MLmodel`, 'flavors: {}\n', {
      'content-type': 'application/octet-stream',
    });
    expect(put.status).toBe(200);
    expect(put.json()).toEqual({});
    // No Content-Type at all (and a name with a space, percent-encoded once).
    expect((await request(port, 'PUT', `${PROXY}/1/run/artifacts/my%20file.txt`, 'spaced')).status).toBe(200);
    expect(readFileSync(join(root, '1', 'run', 'artifacts', 'my file.txt'), 'utf8')).toBe('spaced');

    const list = await request(port, 'GET', `${PROXY}?path=1/run/artifacts`);
    expect(list.status).toBe(200);
    expect(list.json()).toEqual({
      files: [
        { path: 'model', is_dir: true },
        { path: 'my file.txt', is_dir: false, file_size: 6 },
      ],
    });
    const nested = await request(port, 'GET', `/ajax-api/2.0/mlflow-artifacts/artifacts?path=1%2Frun%2Fartifacts%2Fmodel`);
    expect(nested.json()).toEqual({
      files: [
        { path: 'MLmodel', is_dir: false, file_size: 12 },
        { path: 'data', is_dir: true },
      ],
    });
    expect((await request(port, 'GET', PROXY)).json()).toEqual({ files: [{ path: '1', is_dir: true }] });

    const get = await request(port, 'GET', `${PROXY}/1/run/artifacts/model/data/w.bin`);
    expect(get.status).toBe(200);
    expect(get.body.equals(binary)).toBe(true);
    expect(get.headers['content-type']).toBe('application/octet-stream');
    expect(get.headers['content-disposition']).toBe(`attachment; filename="w.bin"; filename*=UTF-8''w.bin`);
    expect(get.headers['content-length']).toBe(String(binary.length));
    expect(get.headers['x-content-type-options']).toBe('nosniff');

    const mlmodel = await request(port, 'GET', `${PROXY}/1/run/artifacts/model/MLmodel`);
    expect(mlmodel.body.toString()).toBe('flavors: {}\n');
    expect(mlmodel.headers['content-type']).toBe('text/plain; charset=utf-8');

    const head = await request(port, 'HEAD', `${PROXY}/1/run/artifacts/model/data/w.bin`);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(binary.length));
    expect(head.body.length).toBe(0);

    const del = await request(port, 'DELETE', `${PROXY}/1/run/artifacts/model`);
    expect(del.status).toBe(200);
    expect(del.json()).toEqual({});
    expect(existsSync(join(root, '1', 'run', 'artifacts', 'model'))).toBe(false);
    expect((await request(port, 'DELETE', `${PROXY}/1/run/artifacts/model`)).status).toBe(200); // absent: fine
  });

  it('answers {} for an empty or missing directory, and 404 JSON for a missing file', async () => {
    const missing = await request(port, 'GET', `${PROXY}?path=3`);
    expect(missing.status).toBe(200);
    expect(missing.headers['content-type']).toMatch(/^application\/json/);
    expect(missing.json()).toEqual({});
    expect((await request(port, 'GET', PROXY)).json()).toEqual({});
    mkdirSync(join(root, 'empty'), { recursive: true });
    expect((await request(port, 'GET', `${PROXY}?path=empty`)).json()).toEqual({});

    const r = await request(port, 'GET', `${PROXY}/nope/file.txt`);
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(r.json().error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect((await request(port, 'GET', `${PROXY}/empty`)).status).toBe(404); // a directory is not a file
  });

  it('never serves HTML or SVG as an active document of the server origin', async () => {
    const page = '<html><script>fetch("/api/2.0/mlflow/experiments/search")</script></html>';
    await request(port, 'PUT', `${PROXY}/x/report.html`, page, { 'content-type': 'text/html' });
    await request(port, 'PUT', `${PROXY}/x/plot.svg`, '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    const html = await request(port, 'GET', `${PROXY}/x/report.html`);
    expect(html.body.toString()).toBe(page);
    expect(html.headers['content-type']).toBe('application/octet-stream');
    expect(html.headers['content-disposition']).toMatch(/^attachment;/);
    expect(html.headers['content-security-policy']).toBe('sandbox');
    const svg = await request(port, 'GET', `${PROXY}/x/plot.svg`);
    expect(svg.headers['content-type']).toBe('image/svg+xml');
    expect(svg.headers['content-disposition']).toMatch(/^attachment;/);
    expect(svg.headers['content-security-policy']).toBe('sandbox');
  });

  it('refuses multipart upload the way MLflow does for stores without it (client falls back to PUT)', async () => {
    for (const op of ['create', 'complete', 'abort']) {
      const r = await request(port, 'POST', `/api/2.0/mlflow-artifacts/mpu/${op}/1/run/artifacts/big.bin`, '{"path":"big.bin","num_parts":3}', {
        'content-type': 'application/json',
      });
      expect(r.status).toBe(501);
      expect(r.json()).toMatchObject({ error_code: 'NOT_IMPLEMENTED', message: UNSUPPORTED_MULTIPART_MESSAGE });
    }
    expectInvalid(await request(port, 'POST', '/ajax-api/2.0/mlflow-artifacts/mpu/create/%2e%2e%2fx', '{}'), 'mpu traversal');
  });

  it('refuses PUT and DELETE of the root', async () => {
    expectInvalid(await request(port, 'PUT', `${PROXY}/`, 'x'), 'PUT root');
    expectInvalid(await request(port, 'DELETE', `${PROXY}/`), 'DELETE root');
    expectInvalid(await request(port, 'DELETE', `${PROXY}//`), 'DELETE //');
  });

  it('removes the partial upload when the client disconnects mid-body', async () => {
    await new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: `${PROXY}/cut/file.bin`, headers: { 'content-length': String(50 * 1024 * 1024) } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1024 * 1024, 7), () => setTimeout(() => req.destroy(), 100));
    });
    const dir = join(root, 'cut');
    for (let i = 0; i < 100 && existsSync(dir) && readdirSync(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
    // The server keeps serving.
    expect((await request(port, 'GET', PROXY)).status).toBe(200);
  });
});

describe('path attacks (security-cases.md, "Paths and URIs")', () => {
  let base: string;
  let root: string;
  let app: FastifyInstance;
  let port: number;
  const SENTINEL = 'SENTINEL-DO-NOT-TOUCH';

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'flywheel-art-attack-'));
    root = join(base, 'root');
    mkdirSync(join(root, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(root, 'sub', 'ok.txt'), 'ok');
    writeFileSync(join(base, 'sentinel.txt'), SENTINEL);
    mkdirSync(join(base, 'outside'));
    writeFileSync(join(base, 'outside', 'secret.txt'), SENTINEL);
    symlinkSync(join(base, 'outside'), join(root, 'link-out'));
    symlinkSync(join(base, 'sentinel.txt'), join(root, 'file-out'));
    ({ app, port } = await startServer(createArtifactStore({ root }), 'mlflow-artifacts:/'));
  });
  afterAll(async () => {
    await app.close();
    rmSync(base, { recursive: true, force: true });
  });

  /** Raw request-target suffixes, sent byte for byte. */
  const ATTACKS = [
    '../sentinel.txt',
    'sub/../../sentinel.txt',
    './../sentinel.txt',
    'sub/deeper/../../../sentinel.txt',
    '..%2fsentinel.txt',
    '%2e%2e%2fsentinel.txt',
    '%2E%2E%2Fsentinel.txt',
    '%2e%2e/sentinel.txt',
    'sub%2f..%2f..%2fsentinel.txt',
    '%252e%252e%252fsentinel.txt',
    '%252E%252E%252Fsentinel.txt',
    '..%252fsentinel.txt',
    '%25252e%25252e%25252fsentinel.txt',
    '/etc/passwd',
    '%2Fetc%2Fpasswd',
    '/etc/passwd%00.jpg',
    'etc/passwd%00.jpg',
    'sub/ok.txt%00',
    '/file://etc/passwd',
    'file://etc/passwd',
    'file:%2F%2F%2Fetc%2Fpasswd',
    'file:///etc/passwd',
    'sub/ok.txt%3F',
    'sub%3F/../../sentinel.txt',
    'a%3F..%2F..%2Fsentinel.txt',
    'sub/ok.txt%23',
    'sub/ok.txt#frag',
    '#/../../sentinel.txt',
    'sub;/../../sentinel.txt',
    'sub/ok.txt%3Bx',
    '..\\sentinel.txt',
    '\\..\\sentinel.txt',
    '..%5Csentinel.txt',
    '%5C..%5Csentinel.txt',
    'C:/',
    'C:/Windows/win.ini',
    'C:\\',
    'C:%5CWindows',
    'c:sentinel.txt',
  ];
  /** Lexically fine, but through symlinks that leave the root. */
  const LINK_ATTACKS = ['link-out/secret.txt', 'link-out', 'file-out', 'link-out/new.txt', 'link-out/deep/new.txt'];

  function untouched(): void {
    expect(readFileSync(join(base, 'sentinel.txt'), 'utf8')).toBe(SENTINEL);
    expect(readFileSync(join(base, 'outside', 'secret.txt'), 'utf8')).toBe(SENTINEL);
    expect(readdirSync(base).sort()).toEqual(['outside', 'root', 'sentinel.txt']);
    expect(readdirSync(join(base, 'outside'))).toEqual(['secret.txt']);
    expect(readdirSync(root).sort()).toEqual(['file-out', 'link-out', 'sub']);
    expect(readdirSync(join(root, 'sub')).sort()).toEqual(['deeper', 'ok.txt']);
    expect(readFileSync(join(root, 'sub', 'ok.txt'), 'utf8')).toBe('ok');
  }

  function leaks(r: Resp): boolean {
    return r.body.includes(SENTINEL) || r.body.includes('root:x:0:0');
  }

  it.each([...ATTACKS, ...LINK_ATTACKS])('proxy GET/PUT/DELETE/list refuse %j', async (attack) => {
    for (const prefix of [PROXY, '/ajax-api/2.0/mlflow-artifacts/artifacts']) {
      const get = await request(port, 'GET', `${prefix}/${attack}`);
      expect(leaks(get)).toBe(false);
      expectInvalid(get, `GET ${attack}`);
      expectInvalid(await request(port, 'PUT', `${prefix}/${attack}`, 'PWNED', { 'content-type': 'application/octet-stream' }), `PUT ${attack}`);
      expectInvalid(await request(port, 'DELETE', `${prefix}/${attack}`), `DELETE ${attack}`);
      const list = await request(port, 'GET', `${prefix}?path=${attack}`);
      expect(leaks(list)).toBe(false);
      expectInvalid(list, `list ${attack}`);
    }
    if (!LINK_ATTACKS.includes(attack)) {
      expectInvalid(await request(port, 'POST', `/api/2.0/mlflow-artifacts/mpu/create/${attack}`, '{}'), `mpu ${attack}`);
    }
    untouched();
  });

  it.each([...ATTACKS, ...LINK_ATTACKS])('run artifact get (/get-artifact) refuses %j', async (attack) => {
    for (const route of ['/get-artifact', '/ajax-api/2.0/mlflow/get-artifact']) {
      const r = await request(port, 'GET', `${route}?run_id=${RUN_ID}&path=${attack}`);
      expect(leaks(r)).toBe(false);
      expectInvalid(r, `${route} ${attack}`);
    }
    const up = await request(port, 'POST', `/ajax-api/2.0/mlflow/upload-artifact?run_uuid=${RUN_ID}&path=${attack}`, 'PWNED', {
      'content-type': 'application/octet-stream',
    });
    expectInvalid(up, `upload-artifact ${attack}`);
    untouched();
  });

  it('the security-cases list for run artifact paths, as decoded query values', async () => {
    for (const p of ['../../../../etc/passwd', '/etc/passwd', 'C:/', 'C:\\', '\\..\\x', 'path/../../x', './../x']) {
      const r = await request(port, 'GET', `/get-artifact?run_id=${RUN_ID}&path=${encodeURIComponent(p)}`);
      expectInvalid(r, p);
      expectInvalid(await request(port, 'GET', `${PROXY}?path=${encodeURIComponent(p)}`), `list ${p}`);
    }
    untouched();
  });

  it('still serves legitimate paths next to the attacks', async () => {
    const r = await request(port, 'GET', `${PROXY}/sub/ok.txt`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('ok');
    const g = await request(port, 'GET', `/get-artifact?run_id=${RUN_ID}&path=sub/ok.txt`);
    expect(g.body.toString()).toBe('ok');
    // Escaping links are not listed.
    expect((await request(port, 'GET', PROXY)).json()).toEqual({ files: [{ path: 'sub', is_dir: true }] });
    untouched();
  });
});

describe('run artifact routes (/get-artifact, upload-artifact)', () => {
  let base: string;
  let root: string;
  let app: FastifyInstance;
  let port: number;

  beforeEach(async () => {
    base = mkdtempSync(join(tmpdir(), 'flywheel-art-run-'));
    root = join(base, 'root');
    ({ app, port } = await startServer(createArtifactStore({ root }), `mlflow-artifacts:/1/${RUN_ID}/artifacts`));
  });
  afterEach(async () => {
    await app.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('uploads into the run and downloads it back', async () => {
    const data = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    const up = await request(port, 'POST', `/ajax-api/2.0/mlflow/upload-artifact?run_uuid=${RUN_ID}&path=eval/table.bin`, data, {
      'content-type': 'application/octet-stream',
    });
    expect(up.status).toBe(200);
    expect(readFileSync(join(root, '1', RUN_ID, 'artifacts', 'eval', 'table.bin')).equals(data)).toBe(true);

    for (const route of ['/get-artifact', '/ajax-api/2.0/mlflow/get-artifact']) {
      const r = await request(port, 'GET', `${route}?run_id=${RUN_ID}&path=eval%2Ftable.bin`);
      expect(r.status).toBe(200);
      expect(r.body.equals(data)).toBe(true);
      expect(r.headers['content-disposition']).toMatch(/^attachment; filename="table.bin"/);
    }
    expect((await request(port, 'GET', `/get-artifact?run_uuid=${RUN_ID}&path=eval/table.bin`)).status).toBe(200);
  });

  it('answers MLflow errors for missing parameters, runs and files', async () => {
    expectInvalid(await request(port, 'GET', '/get-artifact?path=a'), 'no run_id');
    expectInvalid(await request(port, 'GET', `/get-artifact?run_id=${RUN_ID}`), 'no path');
    const noRun = await request(port, 'GET', '/get-artifact?run_id=ffffffffffffffffffffffffffffffff&path=a');
    expect(noRun.status).toBe(404);
    expect(noRun.json().error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    const noFile = await request(port, 'GET', `/get-artifact?run_id=${RUN_ID}&path=absent.txt`);
    expect(noFile.status).toBe(404);
    expect(noFile.json().error_code).toBe('RESOURCE_DOES_NOT_EXIST');

    const post = (q: string, body: Buffer | string | undefined, type?: string) =>
      request(port, 'POST', `/ajax-api/2.0/mlflow/upload-artifact${q}`, body, type ? { 'content-type': type } : {});
    expectInvalid(await post(`?path=a.txt`, 'x', 'application/octet-stream'), 'no run_uuid');
    expectInvalid(await post(`?run_uuid=${RUN_ID}`, 'x', 'application/octet-stream'), 'no path');
    expectInvalid(await post(`?run_uuid=${RUN_ID}&path=a.txt`, '', 'application/octet-stream'), 'empty body');
    expect((await post(`?run_uuid=ffffffffffffffffffffffffffffffff&path=a.txt`, 'x', 'application/octet-stream')).status).toBe(404);
  });

  it('refuses cross-site form content types on upload-artifact (CSRF)', async () => {
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const r = await request(port, 'POST', `/ajax-api/2.0/mlflow/upload-artifact?run_uuid=${RUN_ID}&path=a.txt`, 'x', type ? { 'content-type': type } : {});
      expectInvalid(r, String(type));
    }
    expect(existsSync(join(root, '1'))).toBe(false);
  });

  it('limits upload-artifact to 10 MB, declared or streamed', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024 + 1, 1);
    const declared = await request(port, 'POST', `/ajax-api/2.0/mlflow/upload-artifact?run_uuid=${RUN_ID}&path=big.bin`, big, {
      'content-type': 'application/octet-stream',
    });
    expectInvalid(declared, 'declared size');
    expect(declared.json().message).toBe('Artifact size is too large. Max size is 10MB.');

    // Streamed past the limit: the server stops reading and closes the connection after its 400, so the
    // client sees either that answer or a reset while still sending.
    const chunked = await new Promise<Resp | Error>((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: `/ajax-api/2.0/mlflow/upload-artifact?run_uuid=${RUN_ID}&path=big.bin`,
          headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const buf = Buffer.concat(chunks);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, json: () => JSON.parse(buf.toString()) });
          });
          res.on('error', resolve);
        },
      );
      req.on('error', resolve);
      for (let i = 0; i < 11; i++) req.write(Buffer.alloc(1024 * 1024, 2));
      req.end();
    });
    if (!(chunked instanceof Error)) expectInvalid(chunked, 'streamed size');
    expect(existsSync(join(root, '1', RUN_ID, 'artifacts', 'big.bin'))).toBe(false);

    const ok = Buffer.alloc(10 * 1024 * 1024, 3);
    expect((await request(port, 'POST', `/ajax-api/2.0/mlflow/upload-artifact?run_uuid=${RUN_ID}&path=ok.bin`, ok, { 'content-type': 'application/octet-stream' })).status).toBe(200);
    expect(statSync(join(root, '1', RUN_ID, 'artifacts', 'ok.bin')).size).toBe(ok.length);
  });

  it('answers 501 for runs whose artifacts the server does not hold', async () => {
    await app.close();
    ({ app, port } = await startServer(createArtifactStore({ root }), 's3://bucket/1/run/artifacts'));
    const r = await request(port, 'GET', `/get-artifact?run_id=${RUN_ID}&path=a.txt`);
    expect(r.status).toBe(501);
    expect(r.json().error_code).toBe('NOT_IMPLEMENTED');
  });
});

describe('--no-serve-artifacts', () => {
  it('disables the proxy (503) but still serves file:// run artifacts to the UI', async () => {
    const base = mkdtempSync(join(tmpdir(), 'flywheel-art-noserve-'));
    const root = join(base, 'root');
    const store = createArtifactStore({ root, serveArtifacts: false });
    await store.repository.write(`0/${RUN_ID}/artifacts/a.txt`, Buffer.from('direct'));
    const { app, port } = await startServer(store, pathToFileURL(join(root, '0', RUN_ID, 'artifacts')).href);
    try {
      for (const [method, path] of [
        ['GET', PROXY],
        ['GET', `${PROXY}/0/${RUN_ID}/artifacts/a.txt`],
        ['PUT', `${PROXY}/x.txt`],
        ['DELETE', `${PROXY}/0`],
        ['POST', '/api/2.0/mlflow-artifacts/mpu/create/x'],
      ] as const) {
        const r = await request(port, method, path, method === 'PUT' || method === 'POST' ? 'x' : undefined);
        expect(r.status, `${method} ${path}`).toBe(503);
        expect(r.body.toString()).toContain('--no-serve-artifacts');
      }
      expect(existsSync(join(root, 'x.txt'))).toBe(false);
      const r = await request(port, 'GET', `/get-artifact?run_id=${RUN_ID}&path=a.txt`);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('direct');
      expect(createHash('sha256').update(r.body).digest('hex')).toBe(createHash('sha256').update('direct').digest('hex'));
    } finally {
      await app.close();
      rmSync(base, { recursive: true, force: true });
    }
  });
});
