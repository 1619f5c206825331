/**
 * A Flywheel server in its own process, so the benchmark client and the server do not share an event loop.
 * Usage: tsx bench/serve.ts <backend-store-uri> <artifacts-dir>. Prints {"url": ...} once listening and
 * stops when its stdin closes (the parent exited or closed it).
 */
import { startServer } from '../src/server/start.js';

const [backendStoreUri, artifactsDestination] = process.argv.slice(2);
if (!backendStoreUri || !artifactsDestination) throw new Error('usage: serve.ts <backend-store-uri> <artifacts-dir>');

const server = await startServer({ backendStoreUri, artifactsDestination, port: 0, logLevel: 'silent' });
process.stdout.write(JSON.stringify({ url: server.url }) + '\n');

let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  await server.close();
  process.exit(0);
};
process.stdin.on('end', stop).on('close', stop).resume();
process.on('SIGTERM', stop);
