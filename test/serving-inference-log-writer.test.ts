import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { saveModel } from '../src/models/index.js';
import type { InferenceLogSink, InferenceRecord } from '../src/serving/contracts.js';
import { createInferenceLogSink, fileDestination } from '../src/serving/inference-log.js';
import { inferenceRecordJson, lazyInferenceRecord } from '../src/serving/inference-record.js';
import { startServing, type ServingServer } from '../src/serving/index.js';
import { MATRIX_ROWS_JSON_SOURCE, matrixRowsJson, type RowMatrix } from '../src/serving/row-matrix.js';
import { safeJson, toInferenceLogEntry } from '../src/serving/sql-serving-store.js';

const quietLogger = () => ({ warn: vi.fn(), error: vi.fn() });
const COLUMNS = ['f0', 'f1', 'f2', 'opt'];

describe('inference log: rows written from the input matrix (worker thread and event loop)', () => {
  let dir: string;
  let server: ServingServer;
  const seen: InferenceRecord[] = [];
  let fileSink: ReturnType<typeof createInferenceLogSink>;
  const file = () => join(dir, 'logs', 'inference.jsonl');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flywheel-ilog-writer-'));
    await saveModel(
      join(dir, 'model'),
      { flavor: 'onnx', onnx: { kind: 'logistic', coefficients: [0.5, -0.25, 1, 0.1], intercept: 0.1 } },
      { signature: { inputs: COLUMNS.map((name) => ({ name, type: 'double' as const, ...(name === 'opt' ? { required: false } : {}) })) } },
    );
    fileSink = createInferenceLogSink({ file: file(), batchSize: 3, flushIntervalMs: 20, logger: quietLogger() });
    // Every record goes to the JSONL file (the worker-thread writer) and is kept here to compare with.
    const tee: InferenceLogSink = {
      record: (r) => {
        seen.push(r);
        fileSink.record(r);
      },
      flush: () => fileSink.flush(),
      close: () => fileSink.close(),
      stats: () => fileSink.stats(),
    };
    server = await startServing({ modelUri: join(dir, 'model'), port: 0, logLevel: 'silent', sink: tee });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (body: string) =>
    fetch(`${server.url}/invocations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('writes JSONL lines that parse back to the records, every field, rows included', async () => {
    const rows = Array.from({ length: 250 }, (_, r) => [r / 7, -r * 1e-9, 1e21 + r, r % 3 === 0 ? 'NaN' : r * 0.1]);
    const split = `{"dataframe_split": {"columns": ["f2", "f0", "f1", "opt"], "data": [${rows.map((r) => `[${r[2]}, ${r[0]}, ${r[1]}, ${r[3]}]`).join(', ')}]}}`;
    expect((await post(split)).status).toBe(200);
    expect((await post(JSON.stringify({ instances: [[1, 2, 3, 4]] }))).status).toBe(200);
    expect((await post(JSON.stringify({ dataframe_records: [{ f0: 1, f1: 2, f2: 3 }] }))).status).toBe(200);
    expect((await post(JSON.stringify({ dataframe_split: { columns: ['f0', 'zz'], data: [[1, 2]] } }))).status).toBe(400);
    expect((await post('{"inputs": [[1, 2')).status).toBe(400);
    await fileSink.flush();
    expect(fileSink.stats()).toMatchObject({ queued: 0, shipped: 5, dropped: 0 });

    const lines = readFileSync(file(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // The records' own inputs/outputs (built row by row by the model, only now) are what the file holds.
    expect(lines).toEqual(seen.map((r) => JSON.parse(JSON.stringify(r))));
    const [first] = lines;
    expect(Object.keys(first)).toEqual(['requestId', 'timestamp', 'modelName', 'modelVersion', 'modelUri', 'deployment', 'variant', 'protocol', 'inputs', 'outputs', 'latencyMs', 'status']);
    expect(first.inputs).toHaveLength(250);
    expect(first.inputs[3]).toEqual({ f0: rows[3][0], f1: rows[3][1], f2: rows[3][2], opt: null });
    expect(first.inputs[4]).toEqual({ f0: rows[4][0], f1: rows[4][1], f2: rows[4][2], opt: rows[4][3] });
    expect(first.outputs).toHaveLength(250);
    expect(lines[3]).toMatchObject({ status: 400, inputs: [], outputs: [], error: expect.stringMatching(/zz/) });
    expect(lines[4]).toMatchObject({ status: 400, inputs: [], outputs: [], error: expect.stringMatching(/Malformed JSON/) });
  });

  it('writes the same lines on the event loop (worker: false) and in the server wire shape', async () => {
    const other = join(dir, 'inline.jsonl');
    const dest = fileDestination(other, quietLogger(), { worker: false });
    await dest.write(seen);
    await dest.close();
    expect(readFileSync(other, 'utf8')).toBe(readFileSync(file(), 'utf8'));
    for (const r of seen) expect(inferenceRecordJson(r, true)).toBe(safeJson(toInferenceLogEntry(r)));
  });
});

describe('inference log records', () => {
  it('are O(1) to make: the rows are built only when read', () => {
    const rowInputs = vi.fn(() => [{ a: 1 }]);
    const rowOutputs = vi.fn(() => [0.5]);
    const model = { rowInputs } as never;
    const input = { kind: 'matrix', rows: 1, values: new Float64Array([1]) } as const;
    const r = lazyInferenceRecord(
      { requestId: 'x', timestamp: 1, modelName: null, modelVersion: null, modelUri: 'm', deployment: null, variant: null, protocol: 'mlflow', latencyMs: 1, status: 200 },
      model, input, { rowOutputs } as never,
    );
    expect(rowInputs).not.toHaveBeenCalled();
    expect(rowOutputs).not.toHaveBeenCalled();
    expect(r.inputs).toEqual([{ a: 1 }]);
    expect(r.outputs).toEqual([0.5]);
    expect(r.inputs).toBe(r.inputs);
    expect(rowInputs).toHaveBeenCalledTimes(1);
    expect({ ...r }).toMatchObject({ inputs: [{ a: 1 }], outputs: [0.5] });
  });

  it('the worker thread writes rows exactly as the event loop does (named, unnamed, NaN, odd names)', () => {
    const workerJson = new Function(`${MATRIX_ROWS_JSON_SOURCE}\nreturn matrixRowsJson;`)() as (m: RowMatrix) => string;
    const values = new Float64Array([1.5, NaN, -0, Infinity, 1e-300, 2 ** 53 + 2]);
    const cases: RowMatrix[] = [
      { values, rows: 2, width: 3, names: ['a', 'b"q', 'c\u2028d'], inputName: 'x' },
      { values, rows: 3, width: 2, names: ['__proto__', 'constructor'], inputName: 'x' },
      { values, rows: 2, width: 3, names: null, inputName: 'float_input' },
    ];
    for (const m of cases) {
      const expected = JSON.stringify(
        Array.from({ length: m.rows }, (_, r) => {
          const row = Array.from(m.values.subarray(r * m.width, (r + 1) * m.width));
          if (!m.names) return { [m.inputName]: row };
          const rec: Record<string, number> = {};
          m.names.forEach((n, j) => Object.defineProperty(rec, n, { value: row[j], enumerable: true, writable: true, configurable: true }));
          return rec;
        }),
      );
      if (!m.names?.includes('__proto__')) expect(matrixRowsJson(m)).toBe(expected);
      expect(workerJson(m)).toBe(matrixRowsJson(m));
    }
  });

  it('bounds the buffer by rows as well as by records (a backlog of big requests), drops counted', async () => {
    const logger = quietLogger();
    const never = { description: 'never', write: () => new Promise<{ rejected: number }>(() => {}), close: async () => {} };
    const sink = createInferenceLogSink({ destination: never, maxBufferedRows: 1000, closeTimeoutMs: 10, logger });
    const big = (i: number): InferenceRecord => ({
      requestId: `b${i}`, timestamp: 1, modelName: null, modelVersion: null, modelUri: 'm', deployment: null, variant: null,
      protocol: 'mlflow', inputs: Array.from({ length: 400 }, () => ({ a: 1 })), outputs: [], latencyMs: 1, status: 200,
    });
    for (let i = 0; i < 5; i++) sink.record(big(i));
    expect(sink.stats()).toMatchObject({ queued: 2, dropped: 3 });
    expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ rowCapacity: 1000 }), expect.stringMatching(/buffer full/));
    await sink.close();
  });
});
