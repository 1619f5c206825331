import { dirname } from 'node:path';
import { codeHash, findPackageRoot } from './cache/code-hash.js';
import { cacheKey, envPart, explainCache, type CacheExplanation, type CacheKeyParts } from './cache/key.js';
import { lockfileHash } from './cache/lockfile.js';
import { DEFAULT_OUTPUT, type Params, type StepNode } from './dsl.js';
import type { CachingOutputStore, StoredOutput } from './output-store.js';
import type { CacheCandidate, PipelineRecorder } from './sql-pipeline-store.js';

/** What is stored in `step_runs.cache_decision`: the explanation plus the key parts (for the next run's diff). */
export interface CacheDecision extends CacheExplanation {
  parts: CacheKeyParts;
  /** The step run whose outputs were reused (hit) or that the key was compared with. */
  previousStepRunId?: string;
}

/** Per-run memo of code and lockfile hashes, and of artifact checks (so they can be made ahead of the lookup). */
export class CacheHashes {
  readonly #code = new Map<string, Promise<CacheKeyParts['code']>>();
  readonly #lock = new Map<string, Promise<string>>();
  readonly #checks = new Map<string, Promise<string | null>>();

  /** `outputStore.check(stored)`, once per stored output per run. */
  check(outputStore: CachingOutputStore, stored: StoredOutput): Promise<string | null> {
    const key = `${stored.artifactVersionId ?? ''}\0${outputStore.contentHash(stored) ?? ''}\0${stored.uri ?? ''}`;
    let p = this.#checks.get(key);
    if (!p) {
      p = outputStore.check(stored);
      p.catch(() => undefined); // whoever awaits it sees the error; nobody may (a check made ahead)
      this.#checks.set(key, p);
    }
    return p;
  }

  code(file: string): Promise<CacheKeyParts['code']> {
    let p = this.#code.get(file);
    if (!p) {
      p = codeHash(file).then((h) => ({ hash: h.hash, files: h.files }));
      this.#code.set(file, p);
    }
    return p;
  }

  lockfile(file: string | null): Promise<string> {
    const root = (file ? findPackageRoot(dirname(file)) : undefined) ?? process.cwd();
    let p = this.#lock.get(root);
    if (!p) {
      p = lockfileHash(root);
      this.#lock.set(root, p);
    }
    return p;
  }
}

export type CacheLookup =
  | { hit: true; decision: CacheDecision; outputs: Record<string, StoredOutput> }
  | { hit: false; decision: CacheDecision };

function partsOf(c: CacheCandidate | null): CacheKeyParts | undefined {
  const d = c?.cacheDecision as Partial<CacheDecision> | null | undefined;
  return d && typeof d === 'object' && d.parts ? d.parts : undefined;
}

function outputNames(node: StepNode): string[] {
  return [...(node.definition.outputs ?? [DEFAULT_OUTPUT])];
}

/**
 * Computes the step's cache key and decides: a hit when the latest finished run of the same pipeline step
 * with that key has outputs that all still exist intact, and caching is not disabled.
 */
export async function lookupCache(args: {
  pipelineName: string;
  node: StepNode;
  params: Params;
  inputHashes: Record<string, string>;
  disabled: string | undefined;
  find: NonNullable<PipelineRecorder['findCacheCandidates']>;
  outputStore: CachingOutputStore;
  hashes: CacheHashes;
}): Promise<CacheLookup> {
  const { node, outputStore } = args;
  const def = node.definition;
  const code = def.sourceFile ? await args.hashes.code(def.sourceFile) : { hash: `fn:${def.codeHash}` };
  const base: Omit<CacheKeyParts, 'materializers'> = {
    code,
    lockfile: await args.hashes.lockfile(def.sourceFile),
    params: args.params,
    inputs: args.inputHashes,
    env: envPart(def.options.env ?? []),
  };
  // Materializers are known only after saving; until then, those the latest run used (at their current versions).
  const { latest } = await args.find(args.pipelineName, node.name, '');
  const materializers: Record<string, string> = {};
  for (const name of outputNames(node)) {
    const stored = latest?.outputs?.[name] as StoredOutput | undefined;
    const m = stored ? outputStore.materializerKey(stored) : undefined;
    if (m) materializers[name] = m;
  }
  const parts: CacheKeyParts = { ...base, materializers };
  const key = cacheKey(parts).key;
  const match = latest?.cacheKey === key ? latest : (await args.find(args.pipelineName, node.name, key)).match;
  const problems: string[] = [];
  if (match && args.disabled === undefined) {
    // A step's outputs are few: checked at once (the run bounds how many steps look up at once).
    const found = await Promise.all(
      outputNames(node).map((name) => {
        const stored = match.outputs?.[name] as StoredOutput | undefined;
        return stored ? args.hashes.check(outputStore, stored) : `output '${name}' was not recorded`;
      }),
    );
    for (const problem of found) if (problem) problems.push(problem);
  }
  const previous = match ?? latest;
  const explanation = explainCache(partsOf(previous), parts, { disabled: args.disabled, artifactProblems: problems });
  const decision: CacheDecision = { ...explanation, parts, ...(previous ? { previousStepRunId: previous.id } : {}) };
  if (explanation.hit && match) return { hit: true, decision, outputs: match.outputs as Record<string, StoredOutput> };
  return { hit: false, decision };
}

/** After a miss ran: the key with the materializers actually used (what the next run compares with). */
export function finalDecision(decision: CacheDecision, outputs: Record<string, StoredOutput>, outputStore: CachingOutputStore): CacheDecision {
  const materializers: Record<string, string> = {};
  for (const [name, stored] of Object.entries(outputs)) {
    const m = outputStore.materializerKey(stored);
    if (m) materializers[name] = m;
  }
  const parts = { ...decision.parts, materializers };
  return { ...decision, parts, key: cacheKey(parts).key };
}
