import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { assertJson, type Params } from './dsl.js';
import { PipelineDefinitionError } from './errors.js';

/** Per-step overrides from a config file; each key overrides the step's option of the same name. */
export interface StepConfig {
  params?: Params;
  retries?: number;
  retryBackoffMs?: number;
  timeoutMs?: number;
  cache?: boolean;
}

/** `--config` file contents: pipeline parameters, and per-step overrides keyed by step name (as built). */
export interface PipelineConfig {
  parameters?: Params;
  steps?: Record<string, StepConfig>;
}

const count = z.number().int().nonnegative();
const stepSchema = z.strictObject({
  params: z.record(z.string(), z.unknown()).optional(),
  retries: count.optional(),
  retryBackoffMs: count.optional(),
  timeoutMs: count.optional(),
  cache: z.boolean().optional(),
});
const configSchema = z.strictObject({
  parameters: z.record(z.string(), z.unknown()).optional(),
  steps: z.record(z.string(), stepSchema).optional(),
});

/** Validates a config object (as parsed from YAML or JSON). */
export function parsePipelineConfig(value: unknown, source = 'pipeline config'): PipelineConfig {
  const r = configSchema.safeParse(value ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new PipelineDefinitionError(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const config = r.data as PipelineConfig;
  if (config.parameters) assertJson(config.parameters, `${source}: parameters`);
  for (const [name, s] of Object.entries(config.steps ?? {})) if (s.params) assertJson(s.params, `${source}: steps.${name}.params`);
  return config;
}

/** Reads a YAML (`.yaml`/`.yml`) or JSON file of `{ parameters, steps: { <name>: { params, retries, timeoutMs, cache } } }`. */
export function loadPipelineConfig(file: string): PipelineConfig {
  const text = readFileSync(file, 'utf8');
  let value: unknown;
  try {
    value = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new PipelineDefinitionError(`config file '${file}' is not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
  return parsePipelineConfig(value, `config file '${file}'`);
}
