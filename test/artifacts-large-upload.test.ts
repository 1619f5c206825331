import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createArtifactStore } from '../src/artifacts/index.js';
import { FlywheelError, isFlywheelError } from '../src/core/index.js';
import { artifactRoutes } from '../src/server/artifact-routes.js';

const SIZE = 200 * 1024 * 1024;
const CHUNK = 256 * 1024;
/** If the body were buffered anywhere, memory would grow by at least SIZE; streaming stays far below. */
const MAX_RSS_GROWTH = SIZE / 2;

let base: string;
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'flywheel-art-large-'));
  app = Fastify({ forceCloseConnections: true });
  app.setErrorHandler((err, _req, reply) => {
    const e = isFlywheelError(err) ? err : new FlywheelError('INTERNAL_ERROR', String(err));
    void reply.status(e.status).type('application/json').send(JSON.stringify(e.toJSON()));
  });
  await app.register(async (scope) => artifactRoutes(scope, { artifacts: createArtifactStore({ root: join(base, 'root') }) }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await app.close();
  rmSync(base, { recursive: true, force: true });
});

/** SIZE bytes, generated chunk by chunk (each chunk a fresh buffer), hashed as they are produced. */
function generated(hash: ReturnType<typeof createHash>): Readable {
  const seed = randomBytes(CHUNK);
  let sent = 0;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (sent >= SIZE) return void this.push(null);
      const chunk = Buffer.from(seed);
      chunk.writeUInt32BE(sent / CHUNK, 0); // every chunk differs
      sent += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
}

function watchRss(): { stop(): number } {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss()) - start;
    },
  };
}

it('streams a 200 MB upload to disk and back without holding it in memory', async () => {
  const path = '/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/big/model.bin';
  const sent = createHash('sha256');

  const uploadRss = watchRss();
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'PUT', path, headers: { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    pipeline(generated(sent), req).catch(reject);
  });
  const uploadGrowth = uploadRss.stop();
  expect(status).toBe(200);

  const file = join(base, 'root', '1', 'run', 'artifacts', 'big', 'model.bin');
  expect(statSync(file).size).toBe(SIZE);
  expect(readdirSync(join(base, 'root', '1', 'run', 'artifacts', 'big'))).toEqual(['model.bin']); // no temp file left
  const onDisk = createHash('sha256');
  await pipeline(createReadStream(file), onDisk);
  const expected = sent.digest('hex');
  expect(onDisk.digest('hex')).toBe(expected);

  const downloadRss = watchRss();
  const received = createHash('sha256');
  let length = 0;
  await new Promise<void>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-length']).toBe(String(SIZE));
        res.on('data', (c: Buffer) => {
          length += c.length;
          received.update(c);
        });
        res.on('end', resolve);
        res.on('error', reject);
      })
      .on('error', reject);
  });
  const downloadGrowth = downloadRss.stop();
  expect(length).toBe(SIZE);
  expect(received.digest('hex')).toBe(expected);

  expect(uploadGrowth, `rss grew by ${(uploadGrowth / 2 ** 20).toFixed(0)} MiB during the upload`).toBeLessThan(MAX_RSS_GROWTH);
  expect(downloadGrowth, `rss grew by ${(downloadGrowth / 2 ** 20).toFixed(0)} MiB during the download`).toBeLessThan(MAX_RSS_GROWTH);
}, 120_000);
