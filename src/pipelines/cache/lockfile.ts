import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { canonicalJson, sha256 } from './canonical.js';

/** Lockfiles, most specific first; the first one found in the nearest directory wins. */
export const LOCKFILE_NAMES = ['package-lock.json', 'npm-shrinkwrap.json', 'pnpm-lock.yaml', 'yarn.lock', 'bun.lock'];

export interface LockfileInfo {
  /** Hex sha256 identifying the third-party code. */
  hash: string;
  /** What was hashed: a lockfile path, `package.json#dependencies`, or null when neither exists. */
  source: string | null;
}

/**
 * Identify the project's third-party code: the sha256 of the lockfile found in
 * `root` or its nearest ancestor that has one (workspaces keep it at the top);
 * failing that, the canonical JSON of the nearest package.json's dependency
 * maps; failing that, a fixed hash of "no dependencies".
 */
export async function lockfileInfo(root: string): Promise<LockfileInfo> {
  let dir = resolve(root);
  let packageJson: string | undefined;
  for (;;) {
    for (const name of LOCKFILE_NAMES) {
      const path = join(dir, name);
      if (existsSync(path)) {
        const bytes = await readFile(path);
        return { hash: sha256(Buffer.concat([Buffer.from(`${name}\0`), bytes])), source: path };
      }
    }
    if (packageJson === undefined && existsSync(join(dir, 'package.json'))) packageJson = join(dir, 'package.json');
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  if (packageJson !== undefined) {
    const pkg = JSON.parse(await readFile(packageJson, 'utf8')) as Record<string, unknown>;
    const deps: Record<string, unknown> = {};
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies', 'overrides']) {
      if (pkg[field] !== undefined) deps[field] = pkg[field];
    }
    return { hash: sha256(`package.json#dependencies\0${canonicalJson(deps)}`), source: `${packageJson}#dependencies` };
  }
  return { hash: sha256('no-dependencies'), source: null };
}

/** Hex sha256 of the project's lockfile (see lockfileInfo). */
export async function lockfileHash(root: string): Promise<string> {
  return (await lockfileInfo(root)).hash;
}
