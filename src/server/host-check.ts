import type { FastifyInstance } from 'fastify';
import { FlywheelError } from '../core/index.js';

const LOOPBACK = ['localhost', '127.0.0.1', '::1'];

/**
 * Which `Host` headers the server answers. A server on a loopback address answers only loopback names (and
 * any `allowed` ones): a web page that rebinds its own domain to 127.0.0.1 (DNS rebinding) then cannot read
 * or write through the visitor's browser. A server on another address answers every host unless `allowed`
 * names them. `*` allows all.
 */
export function allowedHostsFor(listenHost: string, allowed: string[] = []): string[] | undefined {
  if (allowed.includes('*')) return undefined;
  const bare = stripBrackets(listenHost);
  if (LOOPBACK.includes(bare)) return [...LOOPBACK, ...allowed.map(stripBrackets)];
  return allowed.length ? [...LOOPBACK, bare, ...allowed.map(stripBrackets)] : undefined;
}

export function installHostCheck(app: FastifyInstance, hosts: string[] | undefined): void {
  if (!hosts) return;
  const allowed = new Set(hosts.map((h) => h.toLowerCase()));
  app.addHook('onRequest', async (req) => {
    const name = hostName(req.headers.host ?? '');
    if (!allowed.has(name)) {
      throw new FlywheelError(
        'PERMISSION_DENIED',
        `Host '${name}' is not allowed. Start the server with --allowed-hosts ${name || '<host>'} to answer requests for it.`,
      );
    }
  });
}

function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon > 0 ? h.slice(0, colon) : h;
}

const stripBrackets = (h: string) => h.replace(/^\[|\]$/g, '').toLowerCase();
