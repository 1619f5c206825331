import { describe, expect, it } from 'vitest';
import {
  enforceSignature, formatUtcTimeCreated, parseMLmodel, parseSignature, serializeMLmodel, serializeSignature,
  type ModelSignature,
} from '../src/models/index.js';

const expectInvalid = (fn: () => unknown, message: RegExp) => {
  try {
    fn();
  } catch (e) {
    expect((e as { code?: string }).code).toBe('INVALID_PARAMETER_VALUE');
    expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected an INVALID_PARAMETER_VALUE error');
};

describe('MLmodel YAML', () => {
  it('round-trips fields, keeping signature parts as JSON strings', () => {
    const sig: ModelSignature = { inputs: [{ type: 'double', name: 'a', required: true }] };
    const text = serializeMLmodel({
      artifact_path: 'model', run_id: 'abc', model_uuid: 'u1', utc_time_created: formatUtcTimeCreated(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))),
      mlflow_version: '2.17.2', flavors: { onnx: { data: 'model.onnx' } }, signature: serializeSignature(sig),
    });
    expect(text).toContain("utc_time_created: 2024-01-02 03:04:05.678000");
    expect(text).toMatch(/inputs: '\[\{"type":"double"/);
    const back = parseMLmodel(text);
    expect(back.utc_time_created).toBe('2024-01-02 03:04:05.678000');
    expect(parseSignature(back.signature)).toEqual({ inputs: sig.inputs });
  });

  it('refuses malformed YAML, JS-typed tags and non-mappings with clear 400 errors', () => {
    expectInvalid(() => parseMLmodel('flavors: [unclosed'), /not valid YAML/);
    expectInvalid(() => parseMLmodel('flavors:\n  onnx: !!js/function "function(){return 1}"'), /not valid YAML/);
    expectInvalid(() => parseMLmodel('x: !<tag:yaml.org,2002:js/undefined> ""\nflavors: {onnx: {}}'), /not valid YAML/);
    expectInvalid(() => parseMLmodel('- a\n- b'), /must be a YAML mapping.*a list/);
    expectInvalid(() => parseMLmodel('just a string'), /must be a YAML mapping.*a string/);
    expectInvalid(() => parseMLmodel(''), /must be a YAML mapping.*empty/);
    expectInvalid(() => parseMLmodel('run_id: x'), /no 'flavors'/);
    expectInvalid(() => parseMLmodel('flavors: {onnx: {}}\nsignature: {inputs: [1]}'), /signature.inputs must be a JSON string/);
    expectInvalid(() => parseSignature({ inputs: '[{"type": ' }), /signature.inputs is not valid JSON/);
  });

  it('keeps unquoted numeric ids as text', () => {
    expect(parseMLmodel('run_id: 12345\nflavors: {js: {}}').run_id).toBe('12345');
  });
});

describe('enforceSignature', () => {
  const sig: ModelSignature = {
    inputs: [
      { type: 'double', name: 'a', required: true },
      { type: 'long', name: 'n', required: true },
      { type: 'string', name: 's', required: false },
    ],
  };

  it('orders columns by the signature and drops extra ones', () => {
    const out = enforceSignature([{ extra: 1, n: 2, a: 1.5 }], sig);
    expect(out).toEqual({ kind: 'columns', columns: ['a', 'n', 's'], rows: [{ a: 1.5, n: 2, s: null }] });
    const split = enforceSignature({ columns: ['n', 'a'], data: [[3, 0.5]] }, sig);
    expect(split).toEqual({ kind: 'columns', columns: ['a', 'n', 's'], rows: [{ a: 0.5, n: 3, s: null }] });
  });

  it('names the missing column and the wrong type', () => {
    expectInvalid(() => enforceSignature([{ a: 1 }], sig), /^Missing column 'n'$/);
    expectInvalid(() => enforceSignature([{ a: 'abc', n: 1 }], sig), /^Column 'a' expects double, got string "abc"/);
    expectInvalid(() => enforceSignature([{ a: 1, n: 1.5 }], sig), /Column 'n' expects long, got number 1.5/);
    expectInvalid(() => enforceSignature([{ a: 1, n: NaN }], sig), /Column 'n'.*NaN is not allowed/);
    expectInvalid(() => enforceSignature([{ a: 1, n: 1, s: 3 }], sig), /Column 's' expects string, got number 3/);
    expectInvalid(() => enforceSignature({ columns: ['a', 'n'], data: [[1]] }, sig), /Row 0 has 1 values for 2 columns/);
  });

  it('checks tensor dtype and shape', () => {
    const tsig: ModelSignature = { inputs: [{ type: 'tensor', 'tensor-spec': { dtype: 'float32', shape: [-1, 2] } }] };
    expect(enforceSignature([[1, 2], [3, 4]], tsig)).toEqual({
      kind: 'tensors', tensors: [{ name: undefined, dtype: 'float32', shape: [2, 2], data: [1, 2, 3, 4] }],
    });
    expectInvalid(() => enforceSignature([[1, 2, 3]], tsig), /expects shape \[-1, 2\].*got \[1, 3\]/);
    expectInvalid(() => enforceSignature([[1, 'x']], tsig), /expects float32, got string "x"/);
    expectInvalid(() => enforceSignature([[1, 2], [3]], tsig), /ragged/);
  });
});
