import { cp, mkdtemp, readFile, rm, writeFile, mkdir, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { realpathSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cacheKey,
  callerFile,
  canonicalJson,
  codeHash,
  envPart,
  explainCache,
  formatCacheExplanation,
  frameFile,
  lockfileHash,
  lockfileInfo,
  resolveLocalImport,
  type CacheKeyParts,
} from '../src/pipelines/cache/index.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/pipeline-code/', import.meta.url));

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flywheel-cache-'));
  await cp(FIXTURE, dir, { recursive: true });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function paths(result: { files: { path: string }[] }): string[] {
  return result.files.map((f) => f.path);
}

async function partsFor(entry: string, overrides: Partial<CacheKeyParts> = {}): Promise<CacheKeyParts> {
  return {
    code: await codeHash(join(dir, entry)),
    lockfile: await lockfileHash(dir),
    params: { lr: 0.1, epochs: 3 },
    inputs: { data: 'a'.repeat(64) },
    materializers: { model: 'json@1' },
    env: { SEED: '1' },
    ...overrides,
  };
}

describe('codeHash', () => {
  it('covers the entry and its local imports transitively, sorted, and nothing else', async () => {
    const result = await codeHash(join(dir, 'step.ts'));
    expect(paths(result)).toEqual(['deep/util.ts', 'helpers.ts', 'lazy.ts', 'step.ts']);
    expect(result.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(result.unresolved).toEqual([]);
    // Deterministic, and independent of where the project lives.
    const other = await mkdtemp(join(tmpdir(), 'flywheel-cache-b-'));
    try {
      await cp(FIXTURE, other, { recursive: true });
      expect((await codeHash(join(other, 'step.ts'))).hash).toBe(result.hash);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
    expect((await codeHash(join(dir, 'step.ts'))).hash).toBe(result.hash);
  });

  it('changes when a transitively imported helper changes, and the explanation names it', async () => {
    const before = await partsFor('step.ts');
    await appendFile(join(dir, 'deep/util.ts'), '\nexport const EXTRA = 1;\n');
    const after = await partsFor('step.ts');
    expect(after.code.hash).not.toBe(before.code.hash);
    const explanation = explainCache(before, after);
    expect(explanation.hit).toBe(false);
    expect(explanation.reasons).toEqual(['code: deep/util.ts changed']);
    expect(explanation.diff).toEqual([
      { part: 'code', path: 'deep/util.ts', before: expect.any(String), after: expect.any(String) },
    ]);
  });

  it('does not change when an unimported module changes', async () => {
    const before = await codeHash(join(dir, 'step.ts'));
    await writeFile(join(dir, 'unrelated.ts'), 'export const unrelated = 43;\n');
    expect((await codeHash(join(dir, 'step.ts'))).hash).toBe(before.hash);
  });

  it('editing a helper re-keys exactly the step that imports it', async () => {
    const stepBefore = cacheKey(await partsFor('step.ts')).key;
    const otherBefore = cacheKey(await partsFor('other-step.ts')).key;
    await appendFile(join(dir, 'helpers.ts'), '\n// tweak\n');
    expect(cacheKey(await partsFor('step.ts')).key).not.toBe(stepBefore);
    expect(cacheKey(await partsFor('other-step.ts')).key).toBe(otherBefore);
    // A downstream step keys on its input's content hash, so a new upstream output re-keys it too.
    const downstream = await partsFor('other-step.ts', { inputs: { data: 'b'.repeat(64) } });
    expect(cacheKey(downstream).key).not.toBe(otherBefore);
  });

  it('handles import cycles without hanging', async () => {
    // helpers.ts ↔ deep/util.ts already form a cycle; add a self-import and a 3-cycle too.
    await writeFile(join(dir, 'a.ts'), "import './b.js';\nimport './a.js';\nexport const a = 1;\n");
    await writeFile(join(dir, 'b.ts'), "import './c.js';\nexport const b = 1;\n");
    await writeFile(join(dir, 'c.ts'), "export * from './a.js';\n");
    const result = await codeHash(join(dir, 'a.ts'));
    expect(paths(result)).toEqual(['a.ts', 'b.ts', 'c.ts']);
    const fromHelpers = await codeHash(join(dir, 'helpers.ts'));
    expect(paths(fromHelpers)).toEqual(['deep/util.ts', 'helpers.ts']);
  });

  it('does not follow bare (package) specifiers', async () => {
    // A local file named like the package must not be picked up through the bare import.
    await writeFile(join(dir, 'zod.ts'), 'export const z = 1;\n');
    await mkdir(join(dir, 'node_modules/zod'), { recursive: true });
    await writeFile(join(dir, 'node_modules/zod/index.js'), 'export const z = 1;\n');
    const result = await codeHash(join(dir, 'step.ts'));
    expect(paths(result)).toEqual(['deep/util.ts', 'helpers.ts', 'lazy.ts', 'step.ts']);
    expect(resolveLocalImport('zod', join(dir, 'step.ts'))).toBeUndefined();
  });

  it('follows string-literal dynamic imports', async () => {
    const before = await codeHash(join(dir, 'step.ts'));
    expect(paths(before)).toContain('lazy.ts');
    await writeFile(join(dir, 'lazy.ts'), 'export function describe(n: number): string { return String(n); }\n');
    const after = await codeHash(join(dir, 'step.ts'));
    expect(after.hash).not.toBe(before.hash);
  });

  it('resolves .js to TS sources, extensionless and directory imports, re-exports and import type', async () => {
    await mkdir(join(dir, 'lib'), { recursive: true });
    await writeFile(join(dir, 'lib/index.ts'), "export { x } from './x.js';\n");
    await writeFile(join(dir, 'lib/x.tsx'), 'export const x = 1;\n');
    await writeFile(join(dir, 'lib/x.js'), 'export const x = "compiled";\n');
    await writeFile(join(dir, 'm.mts'), 'export const m = 1;\n');
    await writeFile(join(dir, 't.ts'), 'export type T = number;\n');
    await writeFile(join(dir, 'plain.ts'), 'export const plain = 1;\n');
    await writeFile(join(dir, 'data.json'), '{"a":1}\n');
    await writeFile(
      join(dir, 'entry.ts'),
      [
        "import { x } from './lib';",
        "import { m } from './m.mjs';",
        "import { type T } from './t.js';",
        "import { plain } from './plain';",
        "import data from './data.json' with { type: 'json' };",
        "export * from './lib/index.js';",
        'const f = <U,>(u: U): U => u;',
        'export const v: T = f(x + m + plain + data.a);',
        "const name = 'computed';",
        'export const later = () => import(`./${name}.js`);',
        "import('./missing.js');",
      ].join('\n'),
    );
    const result = await codeHash(join(dir, 'entry.ts'));
    expect(paths(result)).toEqual(['data.json', 'entry.ts', 'lib/index.ts', 'lib/x.tsx', 'm.mts', 'plain.ts', 't.ts']);
    expect(result.unresolved).toEqual([{ from: 'entry.ts', specifier: './missing.js' }]);
    // Creating the missing module changes the hash.
    await writeFile(join(dir, 'missing.ts'), 'export {};\n');
    const withMissing = await codeHash(join(dir, 'entry.ts'));
    expect(withMissing.hash).not.toBe(result.hash);
    expect(paths(withMissing)).toContain('missing.ts');
  });

  it('skips whole-statement type-only imports, which TypeScript erases', async () => {
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) {
      await writeFile(join(dir, `${name}.ts`), `export type T${name} = 1; export const ${name} = 1;\n`);
    }
    await writeFile(
      join(dir, 'entry.ts'),
      [
        "import type { Ta } from './a.js';",
        "import type * as B from './b.js';",
        "import type C from './c.js';",
        "export type { Td } from './d.js';",
        "import { type Te, e } from './e.js';",
        "import type from './f.js';",
        "import type2, { g } from './g.js';",
        'export const used = [e, type, type2, g];',
      ].join('\n'),
    );
    expect(paths(await codeHash(join(dir, 'entry.ts')))).toEqual(['e.ts', 'entry.ts', 'f.ts', 'g.ts']);
  });

  it('prefers the exact .js file when the importer is plain JS', async () => {
    await writeFile(join(dir, 'x.ts'), 'export const x = 1;\n');
    await writeFile(join(dir, 'x.js'), 'export const x = 1;\n');
    await writeFile(join(dir, 'main.js'), "import { x } from './x.js';\nconsole.log(x);\n");
    expect(paths(await codeHash(join(dir, 'main.js')))).toEqual(['main.js', 'x.js']);
  });

  it('reports paths relative to an explicit root, and accepts file:// URLs', async () => {
    const result = await codeHash(new URL(`file://${join(dir, 'step.ts')}`).href, { root: join(dir, 'deep') });
    expect(paths(result)).toContain('../step.ts');
    expect(paths(result)).toContain('util.ts');
  });

  it('fails clearly for a missing entry file', async () => {
    await expect(codeHash(join(dir, 'nope.ts'))).rejects.toThrow(/not found/);
  });
});

describe('lockfileHash', () => {
  it('hashes package-lock.json when present, else package.json dependencies', async () => {
    const fromPkg = await lockfileInfo(dir);
    expect(fromPkg.source).toBe(`${join(dir, 'package.json')}#dependencies`);
    // Reformatting package.json without changing dependencies keeps the hash.
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'package.json'), JSON.stringify({ ...pkg, description: 'x' }));
    expect(await lockfileHash(dir)).toBe(fromPkg.hash);
    await writeFile(join(dir, 'package.json'), JSON.stringify({ ...pkg, dependencies: { zod: '4.0.0' } }));
    expect(await lockfileHash(dir)).not.toBe(fromPkg.hash);

    await writeFile(join(dir, 'package-lock.json'), '{"lockfileVersion":3}\n');
    const lock = await lockfileInfo(dir);
    expect(lock.source).toBe(join(dir, 'package-lock.json'));
    await writeFile(join(dir, 'package-lock.json'), '{"lockfileVersion":3,"packages":{}}\n');
    expect(await lockfileHash(dir)).not.toBe(lock.hash);
  });

  it('finds a workspace lockfile in an ancestor and supports pnpm/yarn', async () => {
    await mkdir(join(dir, 'pkg/sub'), { recursive: true });
    await writeFile(join(dir, 'pkg/sub/package.json'), '{"dependencies":{}}');
    await writeFile(join(dir, 'pnpm-lock.yaml'), 'lockfileVersion: 9.0\n');
    expect((await lockfileInfo(join(dir, 'pkg/sub'))).source).toBe(join(dir, 'pnpm-lock.yaml'));
    await writeFile(join(dir, 'pkg/yarn.lock'), '# yarn\n');
    expect((await lockfileInfo(join(dir, 'pkg/sub'))).source).toBe(join(dir, 'pkg/yarn.lock'));
  });
});

describe('cacheKey', () => {
  const base: CacheKeyParts = {
    code: { hash: 'c'.repeat(64), files: [{ path: 'step.ts', hash: 'd'.repeat(64) }] },
    lockfile: 'l'.repeat(64),
    params: { lr: 0.1, opt: { name: 'adam', betas: [0.9, 0.99] } },
    inputs: { data: 'a'.repeat(64), labels: 'b'.repeat(64) },
    materializers: { model: 'onnx@2' },
    env: { SEED: '1', TOKEN: null },
  };

  it('ignores key order everywhere and the code file list', () => {
    const reordered: CacheKeyParts = {
      env: { TOKEN: null, SEED: '1' },
      materializers: { model: 'onnx@2' },
      inputs: { labels: 'b'.repeat(64), data: 'a'.repeat(64) },
      params: { opt: { betas: [0.9, 0.99], name: 'adam' }, lr: 0.1 },
      lockfile: 'l'.repeat(64),
      code: { hash: 'c'.repeat(64) },
    };
    expect(cacheKey(reordered).key).toBe(cacheKey(base).key);
    expect(cacheKey(base).key).toMatch(/^[0-9a-f]{64}$/);
    expect(cacheKey(base).parts).toBe(base);
  });

  it('changes with every part', () => {
    const k = cacheKey(base).key;
    const variants: CacheKeyParts[] = [
      { ...base, code: { hash: 'e'.repeat(64) } },
      { ...base, lockfile: 'm'.repeat(64) },
      { ...base, params: { ...(base.params as object), lr: 0.2 } },
      { ...base, params: { lr: 0.1, opt: { name: 'adam', betas: [0.99, 0.9] } } },
      { ...base, inputs: { ...base.inputs, data: 'f'.repeat(64) } },
      { ...base, materializers: { model: 'onnx@3' } },
      { ...base, env: { SEED: '2', TOKEN: null } },
      { ...base, env: { SEED: '1' } },
    ];
    const keys = new Set(variants.map((v) => cacheKey(v).key));
    expect(keys.size).toBe(variants.length);
    expect(keys.has(k)).toBe(false);
  });

  it('canonical JSON sorts keys and rejects values JSON would lose', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x', null], c: true }, u: undefined })).toBe(
      '{"a":{"c":true,"d":[1,"x",null]},"b":1}',
    );
    expect(canonicalJson(new Date(0))).toBe('"1970-01-01T00:00:00.000Z"');
    expect(() => canonicalJson({ a: NaN })).toThrow(/\$\.a: non-finite/);
    expect(() => canonicalJson({ m: new Map() })).toThrow(/\$\.m: Map is not plain JSON/);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(/function is not JSON/);
    expect(() => canonicalJson([1, undefined])).toThrow(/\$\[1\]: undefined/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/circular/);
  });
});

describe('explainCache', () => {
  const prev: CacheKeyParts = {
    code: {
      hash: '1'.repeat(64),
      files: [
        { path: 'helpers.ts', hash: 'h'.repeat(64) },
        { path: 'step.ts', hash: 's'.repeat(64) },
      ],
    },
    lockfile: 'l'.repeat(64),
    params: { lr: 0.1, opt: { name: 'adam' }, layers: [1, 2] },
    inputs: { data: 'abc'.padEnd(64, '0'), old: 'o'.repeat(64) },
    materializers: { model: 'json@1', metrics: 'json@1' },
    env: { FOO_OLD: 'x', SEED: '1', TOKEN: null, KEY: 'secret-a' },
  };

  it('reports no previous run', () => {
    const e = explainCache(undefined, prev);
    expect(e).toMatchObject({ hit: false, reasons: ['no previous run'], diff: [] });
    expect(e.key).toBe(cacheKey(prev).key);
  });

  it('hits when nothing changed, and names why otherwise', () => {
    const e = explainCache(prev, structuredClone(prev));
    expect(e.hit).toBe(true);
    expect(e.reasons).toEqual(['all key parts unchanged']);
    expect(e.previousKey).toBe(e.key);
    expect(formatCacheExplanation('train', e)).toEqual([
      `train: HIT (key ${e.key.slice(0, 12)}…)`,
      '  - all key parts unchanged',
    ]);
  });

  it('diffs every part', () => {
    const cur: CacheKeyParts = {
      code: {
        hash: '2'.repeat(64),
        files: [
          { path: 'deep/util.ts', hash: 'u'.repeat(64) },
          { path: 'helpers.ts', hash: 'H'.repeat(64) },
          { path: 'step.ts', hash: 's'.repeat(64) },
        ],
      },
      lockfile: 'L'.repeat(64),
      params: { lr: 0.2, opt: { name: 'sgd', 'weight-decay': 0.01 }, layers: [1, 2, 3] },
      inputs: { data: 'def'.padEnd(64, '0'), fresh: 'n'.repeat(64) },
      materializers: { model: 'json@2' },
      env: { SEED: '1', TOKEN: 'now-set', KEY: 'secret-b', FOO: null },
    };
    const e = explainCache(prev, cur);
    expect(e.hit).toBe(false);
    expect(e.reasons).toEqual([
      'code: deep/util.ts added (newly imported)',
      'code: helpers.ts changed',
      `lockfile: changed (${'l'.repeat(12)}… → ${'L'.repeat(12)}…)`,
      'params.layers: [1,2] → [1,2,3]',
      'params.lr: 0.1 → 0.2',
      'params.opt.name: "adam" → "sgd"',
      'params.opt["weight-decay"]: added (0.01)',
      `input 'data': hash abc000000000… → def000000000…`,
      `input 'fresh': added (hash ${'n'.repeat(12)}…)`,
      `input 'old': removed (was hash ${'o'.repeat(12)}…)`,
      "materializer for 'metrics': removed (was json@1)",
      "materializer for 'model': json@1 → json@2",
      'env FOO added',
      'env FOO_OLD removed',
      'env KEY: value changed',
      'env TOKEN: now set',
    ]);
    expect(e.diff).toContainEqual({ part: 'params', path: 'params.lr', before: 0.1, after: 0.2 });
    expect(e.diff).toContainEqual({ part: 'inputs', path: 'data', before: prev.inputs.data, after: cur.inputs.data });
    // Env values (possibly secrets) never appear in the diff or reasons.
    expect(JSON.stringify(e)).not.toContain('secret');
    const lines = formatCacheExplanation('train', e);
    expect(lines[0]).toBe(`train: MISS (key ${e.key.slice(0, 12)}…)`);
    expect(lines).toContain('  - params.lr: 0.1 → 0.2');
  });

  it('reports a code change without file lists, an unset env var and removed params', () => {
    const e = explainCache(
      { ...prev, code: { hash: '1'.repeat(64) }, params: { lr: 0.1, extra: true } },
      { ...prev, code: { hash: '3'.repeat(64) }, params: { lr: 0.1 }, env: { ...prev.env, SEED: null } },
    );
    expect(e.reasons).toEqual([
      `code: changed (${'1'.repeat(12)}… → ${'3'.repeat(12)}…)`,
      'params.extra: removed (was true)',
      'env SEED: now unset',
    ]);
  });

  it('misses when caching is disabled or artifacts are gone, even with an equal key', () => {
    const disabled = explainCache(prev, prev, { disabled: 'step declares cache: false' });
    expect(disabled.hit).toBe(false);
    expect(disabled.reasons).toEqual(['caching disabled: step declares cache: false']);
    const broken = explainCache(prev, prev, { artifactProblems: ["output 'model' is missing"] });
    expect(broken.hit).toBe(false);
    expect(broken.reasons).toEqual(["artifact: output 'model' is missing"]);
  });

  it('envPart redacts values by default', () => {
    const env = envPart(['B', 'A', 'C'], { A: 'secret', B: '' });
    expect(Object.keys(env)).toEqual(['A', 'B', 'C']);
    expect(env.A).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(env.C).toBeNull();
    expect(envPart(['A'], { A: 'v' }, { redact: false })).toEqual({ A: 'v' });
  });
});

describe('callerFile', () => {
  it("returns the calling module's file path", () => {
    expect(callerFile()).toBe(fileURLToPath(import.meta.url));
  });

  it('returns the module that called a wrapper, skipping extra skip directories', async () => {
    // Stands in for a DSL helper: a module that calls callerFile() on behalf of its caller.
    const wrapper = join(dir, 'dsl.mjs');
    await writeFile(wrapper, 'export function define(find, options) { return find(options); }\n');
    const { define } = (await import(pathToFileURL(wrapper).href)) as {
      define: (find: typeof callerFile, options?: Parameters<typeof callerFile>[0]) => string | undefined;
    };
    expect(realpathSync(define(callerFile) ?? '')).toBe(realpathSync(wrapper));
    expect(define(callerFile, { skipDirs: [dir] })).toBe(fileURLToPath(import.meta.url));
  });

  it('parses V8 frame formats', () => {
    expect(frameFile('    at step (file:///work/p/train.ts:10:5)')).toBe('/work/p/train.ts');
    expect(frameFile('    at file:///work/p/train.ts:10:5')).toBe('/work/p/train.ts');
    expect(frameFile('    at async run (/work/p/a b.ts:1:2)')).toBe('/work/p/a b.ts');
    expect(frameFile('    at /work/p/x.js:3:4')).toBe('/work/p/x.js');
    expect(frameFile('    at new Foo (file:///work/p/x.ts?v=123:3:4)')).toBe('/work/p/x.ts');
    expect(frameFile('    at eval (eval at run (file:///work/p/e.js:1:2), <anonymous>:1:1)')).toBe('/work/p/e.js');
    expect(frameFile('    at Module._compile (node:internal/modules/cjs/loader:1:1)')).toBeUndefined();
    expect(frameFile('    at Array.map (<anonymous>)')).toBeUndefined();
    expect(frameFile('    at native')).toBeUndefined();
    expect(frameFile('Error: boom')).toBeUndefined();
  });
});
