import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flywheel } from '../src/index.js';
import { startServing, type ServingServer } from '../src/serving/index.js';
import { call, probability, registerBroken, registerLogistic } from './helpers/serving-models.js';

/** Posts `bytes` bytes of a JSON array without holding them in memory; resolves with the answer (or the socket error). */
function postHuge(url: string, bytes: number): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request(new URL('/invocations', url), { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': bytes } });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', (e) => resolve({ error: e.message }));
    const chunk = Buffer.alloc(1024 * 1024, ' ');
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('inference server: bad input gets a clear 400 and the server stays up', () => {
  let dir: string;
  let fw: Flywheel;
  let server: ServingServer;
  let optional: ServingServer;
  const model = { coefficients: [1, -1, 0.5], intercept: 0 };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flywheel-serving-bad-'));
    fw = await Flywheel.connect(join(dir, 'flywheel.db'));
    await registerLogistic(fw, 'm', model, {
      inputs: [{ name: 'a', type: 'double' }, { name: 'b', type: 'double' }, { name: 'n', type: 'long' }],
    });
    await registerLogistic(fw, 'opt', model, {
      inputs: [{ name: 'a', type: 'double' }, { name: 'b', type: 'double', required: false }, { name: 'c', type: 'double' }],
    });
    server = await startServing({ modelUri: 'models:/m/1', client: fw, port: 0, logLevel: 'silent', bodyLimitBytes: 1024 * 1024 });
    optional = await startServing({ modelUri: 'models:/opt/1', client: fw, port: 0, logLevel: 'silent' });
  });
  afterAll(async () => {
    await server?.close();
    await optional?.close();
    await fw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const invoke = (body: unknown, headers?: Record<string, string>) => call(server.url, '/invocations', body, headers);
  const expect400 = async (body: unknown, code: string, message: RegExp) => {
    const res = await invoke(body);
    expect(res.status, JSON.stringify(body)).toBe(400);
    expect(res.json).toEqual({ error_code: code, message: expect.stringMatching(message) });
  };

  it('malformed JSON and bodies that are not one of the four formats', async () => {
    await expect400('{"dataframe_records": [', 'BAD_REQUEST', /Malformed JSON/);
    await expect400('[1, 2, 3]', 'BAD_REQUEST', /exactly one of the input fields/);
    await expect400({ rows: [[1, 2, 3]] }, 'BAD_REQUEST', /exactly one of the input fields.*Received keys: rows/);
    await expect400({ instances: [[1, 2, 3]], inputs: [[1, 2, 3]] }, 'BAD_REQUEST', /exactly one/);
    await expect400({ dataframe_split: { columns: ['a'] } }, 'BAD_REQUEST', /'columns' and 'data'/);
    await expect400({ dataframe_records: { a: 1 } }, 'BAD_REQUEST', /list of records/);
    await expect400({ inputs: 5 }, 'BAD_REQUEST', /'inputs' must be a list/);
  });

  it('unknown, missing and duplicate columns are named', async () => {
    await expect400({ dataframe_records: [{ a: 1, b: 2, n: 3, zz: 4 }] }, 'INVALID_PARAMETER_VALUE', /Unknown column 'zz': the model takes a, b, n/);
    await expect400({ dataframe_split: { columns: ['a', 'b', 'q'], data: [[1, 2, 3]] } }, 'INVALID_PARAMETER_VALUE', /Unknown column 'q'/);
    // A UTF-8 body (not ASCII) is decoded as UTF-8.
    await expect400({ dataframe_records: [{ a: 1, b: 2, n: 3, 'café→': 4 }] }, 'INVALID_PARAMETER_VALUE', /Unknown column 'café→'/);
    await expect400({ dataframe_records: [{ a: 1, n: 3 }] }, 'INVALID_PARAMETER_VALUE', /Missing column 'b'/);
    await expect400({ dataframe_split: { columns: ['a', 'n'], data: [[1, 3]] } }, 'INVALID_PARAMETER_VALUE', /Missing column 'b'/);
    await expect400({ inputs: { a: [1], b: [2] } }, 'INVALID_PARAMETER_VALUE', /Missing column 'n'/);
    await expect400({ dataframe_split: { columns: ['a', 'a', 'b', 'n'], data: [[1, 1, 2, 3]] } }, 'INVALID_PARAMETER_VALUE', /'a' is given twice/);
  });

  it('wrong types and NaN where it is not allowed', async () => {
    await expect400({ dataframe_records: [{ a: 1, b: '2', n: 3 }] }, 'INVALID_PARAMETER_VALUE', /Column 'b' expects double, got string "2" \(row 0\)/);
    await expect400({ dataframe_records: [{ a: 1, b: 2, n: 3 }, { a: 1, b: 2, n: 3.5 }] }, 'INVALID_PARAMETER_VALUE', /Column 'n' expects long, got number 3.5 \(row 1\)/);
    await expect400({ instances: [[1, true, 3]] }, 'INVALID_PARAMETER_VALUE', /Column 'b' expects double, got boolean true/);
    await expect400('{"dataframe_records": [{"a": NaN, "b": 2, "n": 3}]}', 'INVALID_PARAMETER_VALUE', /Column 'a' has NaN in row 0/);
    await expect400({ dataframe_records: [{ a: 1, b: null, n: 3 }] }, 'INVALID_PARAMETER_VALUE', /Column 'b' has null in row 0/);
    const csv = await fetch(new URL('/invocations', server.url), { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a,b,n\n1,,3\n' });
    expect(csv.status).toBe(400);
    expect(((await csv.json()) as any).message).toMatch(/Column 'b' has NaN in row 0/);
    // An optional double column takes NaN (and may be left out).
    const ok = await call(optional.url, '/invocations', '{"dataframe_records": [{"a": 1, "b": NaN, "c": 2}]}');
    expect(ok.status).toBe(200);
    const left = await call(optional.url, '/invocations', { dataframe_records: [{ a: 1, c: 2 }] });
    expect(left.status).toBe(200);
    // ...but not a required one.
    const req = await call(optional.url, '/invocations', '{"dataframe_records": [{"a": 1, "b": 0, "c": Infinity}, {"a": NaN, "b": 0, "c": 1}]}');
    expect(req.status).toBe(400);
    expect(req.json.message).toMatch(/Column 'a' has NaN in row 1/);
  });

  it('wrong shapes', async () => {
    await expect400({ instances: [[1, 2, 3], [1, 2]] }, 'INVALID_PARAMETER_VALUE', /Row 1 has 2 values; the model takes 3 columns \(a, b, n\)/);
    await expect400({ dataframe_split: { columns: ['a', 'b', 'n'], data: [[1, 2, 3, 4]] } }, 'INVALID_PARAMETER_VALUE', /Row 0 has 4 values/);
    await expect400({ inputs: { a: [1, 2], b: [1], n: [1, 2] } }, 'INVALID_PARAMETER_VALUE', /Column 'b' has 1 values; 'a' has 2/);
    await expect400({ instances: [1, 2, 3] }, 'INVALID_PARAMETER_VALUE', /Row 0 must be a list of 3 values/);
  });

  it('v2: bad tensors get {"error": ...} with 400', async () => {
    const infer = (body: unknown) => call(server.url, '/v2/models/m/infer', body);
    const cases: [unknown, RegExp][] = [
      [{}, /"inputs" must be a non-empty list/],
      [{ inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5] }] }, /shape \[2, 3\], which needs 6 values; got 5/],
      [{ inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] }] }, /the model takes \[-1, 3\]/],
      [{ inputs: [{ name: 'input', datatype: 'FP32', shape: [3], data: [1, 2, 3] }] }, /the model takes \[-1, 3\]/],
      [{ inputs: [{ name: 'a', datatype: 'FP64', shape: [1], data: [1] }, { name: 'zz', datatype: 'FP64', shape: [1], data: [1] }] }, /Unknown input 'zz'/],
      [{ inputs: [{ name: 'a', datatype: 'FP64', shape: [1], data: [1] }, { name: 'b', datatype: 'FP64', shape: [1], data: [1] }] }, /Missing column 'n'/],
      [{ inputs: [{ name: 'a', datatype: 'BYTES', shape: [1], data: ['x'] }, { name: 'b', datatype: 'FP64', shape: [1], data: [1] }, { name: 'n', datatype: 'INT64', shape: [1], data: [1] }] }, /Input 'a' has datatype BYTES; the model takes FP64/],
      [{ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 'x', 3] }] }, /Input 'input' is FP32 but value 1 is "x"/],
      [{ inputs: [{ name: 'input', datatype: 'FLOAT', shape: [1, 3], data: [1, 2, 3] }] }, /datatype "FLOAT"/],
      [{ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }], outputs: [{ name: 'nope' }] }, /Unknown output 'nope': the model outputs label, probabilities/],
    ];
    for (const [body, message] of cases) {
      const res = await infer(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json).toEqual({ error: expect.stringMatching(message) });
    }
    const malformed = await infer('{"inputs": [');
    expect(malformed.status).toBe(400);
    expect(malformed.json.error).toMatch(/Malformed JSON/);
  });

  it('unsupported content types get 415', async () => {
    for (const type of ['text/plain', 'application/json; charset=latin-1']) {
      const res = await invoke({ instances: [[1, 2, 3]] }, { 'content-type': type });
      expect(res.status, type).toBe(415);
      expect(res.json.message).toMatch(/only supports the following content types/);
    }
    const old = await invoke({ columns: ['a', 'b', 'n'], data: [[1, 2, 3]] }, { 'content-type': 'application/json; format=pandas-split' });
    expect(old.status).toBe(415);
    expect(old.json.message).toMatch(/scoring protocol has changed in MLflow version 2.0/);
  });

  it('a body over the limit gets 413 with a clear message, and the server keeps serving', async () => {
    // This server's limit is 1 MB; the default server (50 MB) is checked with 100 MB below.
    const res = await postHuge(server.url, 3 * 1024 * 1024);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body!)).toEqual({ error_code: 'BAD_REQUEST', message: expect.stringMatching(/larger than this server's limit of 1 MB/) });
    const huge = await postHuge(optional.url, 100 * 1024 * 1024);
    expect(huge.status).toBe(413);
    expect(JSON.parse(huge.body!).message).toMatch(/limit of 50 MB/);
    const after = await invoke({ instances: [[1, 2, 3]] });
    expect(after.status).toBe(200);
    expect(after.json.predictions[0].probabilities[1]).toBeCloseTo(probability(model, [1, 2, 3]), 5);
  });

  it('unknown endpoints are 404 in each protocol’s shape', async () => {
    expect((await call(server.url, '/nope')).json).toMatchObject({ error_code: 'ENDPOINT_NOT_FOUND' });
    expect((await call(server.url, '/v2/nope')).json).toEqual({ error: expect.stringMatching(/No endpoint GET \/v2\/nope/) });
  });

  it('a model that fails to load stops the start with a clear error', async () => {
    await registerBroken(fw, 'broken', dir);
    await expect(startServing({ modelUri: 'models:/broken/1', client: fw, port: 0, logLevel: 'silent' })).rejects.toThrow(/'model.onnx' is not an ONNX model/);
    await expect(startServing({ modelUri: 'models:/m/7', client: fw, port: 0, logLevel: 'silent' })).rejects.toThrow(/Model Version \(name=m, version=7\) not found/);
    await expect(startServing({ modelUri: 'models:/m@nobody', client: fw, port: 0, logLevel: 'silent' })).rejects.toThrow(/alias nobody not found/);
  });
});
