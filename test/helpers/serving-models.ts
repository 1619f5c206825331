/** Models registered through the SDK for the inference-server tests, and small HTTP helpers for them. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Flywheel } from '../../src/index.js';
import type { ModelSignature } from '../../src/models/index.js';

export const FEATURES = ['a', 'b', 'c'];
export const doubleColumns = (names: string[]): ModelSignature => ({ inputs: names.map((name) => ({ name, type: 'double' as const })) });

export interface Logistic {
  coefficients: number[];
  intercept: number;
}

/** P(y = 1) as the ONNX graph computes it (float32, so compare with toBeCloseTo). */
export const probability = (m: Logistic, row: number[]) => 1 / (1 + Math.exp(-(row.reduce((s, x, i) => s + x * m.coefficients[i], 0) + m.intercept)));

/** Logs an ONNX logistic regression in a run and registers it as a new version of `name`; returns the version. */
export async function registerLogistic(fw: Flywheel, name: string, m: Logistic, signature: ModelSignature = doubleColumns(FEATURES), inputExample?: unknown): Promise<string> {
  return fw.withRun({ runName: `${name}-train` }, async (run) => {
    const info = await run.logModel(
      { flavor: 'onnx', onnx: { kind: 'logistic', coefficients: m.coefficients, intercept: m.intercept } },
      { signature, registeredModelName: name, ...(inputExample ? { inputExample: inputExample as never } : {}) },
    );
    return info.modelVersion!.version;
  });
}

/** Registers a version whose model.onnx is not an ONNX model (it fails to load). */
export async function registerBroken(fw: Flywheel, name: string, scratch: string): Promise<string> {
  const dir = join(scratch, `broken-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'MLmodel'), 'flavors:\n  onnx: {data: model.onnx}\n');
  writeFileSync(join(dir, 'model.onnx'), 'this is not an ONNX model\n');
  return fw.withRun({ runName: 'broken' }, async (run) => {
    await run.logArtifacts(dir, 'model');
    return (await fw.registerModel(`runs:/${run.runId}/model`, name)).version;
  });
}

/** Registers a js flavor model: predict = 2a + b per row. */
export async function registerJs(fw: Flywheel, name: string, scratch: string): Promise<string> {
  const file = join(scratch, 'double-a-plus-b.mjs');
  writeFileSync(file, 'export function predict(rows) { return rows.map((r) => 2 * r.a + r.b); }\n');
  return fw.withRun({ runName: 'js' }, async (run) => {
    const info = await run.logModel({ flavor: 'js', modulePath: file }, { signature: doubleColumns(['a', 'b']), registeredModelName: name });
    return info.modelVersion!.version;
  });
}

export interface Answer {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

export async function call(base: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit = body === undefined
    ? { method: 'GET', headers }
    : { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) };
  const res = await fetch(new URL(path, base), init);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** A sample's value from Prometheus text, e.g. metric(text, 'flywheel_serving_model_swaps_total'). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}
