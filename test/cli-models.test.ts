import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { Flywheel } from '../src/index.js';
import { buildLinearRegressionOnnx } from '../src/models/index.js';

/** Runs the CLI in process and collects what it printed. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

describe('flywheel models (in process)', () => {
  let dir: string;
  let db: string;
  let runId: string;
  const at = () => ['--tracking-uri', db];
  const input = (name: string, value: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
    return path;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flywheel-cli-models-'));
    db = join(dir, 'flywheel.db');
    const fw = await Flywheel.connect(db);
    try {
      runId = await fw.withRun({ runName: 'prices-run' }, async (run) => {
        await run.logModel(
          { flavor: 'onnx', onnx: buildLinearRegressionOnnx({ coefficients: [2, 3], intercept: 1 }) },
          {
            signature: { inputs: [{ name: 'a', type: 'double' }, { name: 'b', type: 'double' }] },
            registeredModelName: 'prices',
          },
        );
        return run.runId;
      });
    } finally {
      await fw.close();
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints help for models and each subcommand', async () => {
    const top = await cli('--help');
    expect(top.out).toContain('models');
    const models = await cli('models', '--help');
    expect(models.code).toBe(0);
    for (const sub of ['list', 'versions', 'alias', 'history', 'download', 'predict']) expect(models.out).toContain(sub);
    const alias = await cli('models', 'alias', '--help');
    for (const sub of ['set', 'delete', 'rollback']) expect(alias.out).toContain(sub);
    for (const sub of [['list'], ['versions'], ['alias', 'set'], ['alias', 'delete'], ['alias', 'rollback'], ['history'], ['download']]) {
      const res = await cli('models', ...sub, '--help');
      expect(res.code).toBe(0);
      expect(res.out).toContain('--tracking-uri');
    }
    const predict = await cli('models', 'predict', '--help');
    for (const flag of ['--model-uri', '--input-path', '--output-path', '--allow-js', '--tracking-uri']) expect(predict.out).toContain(flag);
  });

  it('lists registered models and their versions', async () => {
    const table = await cli('models', 'list', ...at());
    expect(table.code).toBe(0);
    const lines = table.out.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+LATEST VERSIONS\s+ALIASES\s+UPDATED \(UTC\)$/);
    expect(lines[1]).toMatch(/^prices\s+1 \(None\)\s+\d{4}-/);
    const json = JSON.parse((await cli('models', 'list', '--json', ...at())).out);
    expect(json).toMatchObject([{ name: 'prices', latest_versions: [{ version: '1' }] }]);
    expect(JSON.parse((await cli('models', 'list', '--filter', "name = 'nope'", '--json', ...at())).out)).toEqual([]);

    const versions = await cli('models', 'versions', 'prices', ...at());
    expect(versions.code).toBe(0);
    expect(versions.out).toMatch(/^VERSION\s+STAGE\s+ALIASES\s+RUN ID\s+SOURCE\s+CREATED \(UTC\)\n/);
    expect(versions.out).toMatch(new RegExp(`\\n1\\s+None\\s+${runId}\\s+\\S+`));
    const vjson = JSON.parse((await cli('models', 'versions', 'prices', '--json', ...at())).out);
    expect(vjson).toMatchObject([{ name: 'prices', version: '1', run_id: runId, current_stage: 'None' }]);

    const missing = await cli('models', 'versions', 'nope', ...at());
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('RESOURCE_DOES_NOT_EXIST');
    expect(missing.err).not.toMatch(/\n\s+at /);
  });

  it('sets an alias and shows it in versions and the promotion history', async () => {
    const set = await cli('models', 'alias', 'set', 'prices', 'champion', '1', '--reason', 'best RMSE', ...at());
    expect(set).toMatchObject({ code: 0, out: "Set alias 'champion' of 'prices' to version 1\n" });
    expect((await cli('models', 'versions', 'prices', ...at())).out).toMatch(/\n1\s+None\s+champion\s+/);
    expect((await cli('models', 'list', ...at())).out).toMatch(/prices\s+1 \(None\)\s+champion=1/);

    const history = await cli('models', 'history', 'prices', ...at());
    expect(history.code).toBe(0);
    expect(history.out).toMatch(/^TIME \(UTC\)\s+KIND\s+TARGET\s+FROM → TO\s+ACTOR\s+REASON\n/);
    expect(history.out).toMatch(/alias\s+champion\s+- → 1\s+.*best RMSE/);
    const hjson = JSON.parse((await cli('models', 'history', 'prices', '--json', ...at())).out);
    expect(hjson).toMatchObject([{ kind: 'alias', alias: 'champion', to_version: '1', reason: 'best RMSE' }]);

    const bad = await cli('models', 'alias', 'set', 'prices', 'champion', '7', ...at());
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^error: .*\(\w+\)\n$/);
  });

  it('deletes an alias (recorded in history)', async () => {
    await cli('models', 'alias', 'set', 'prices', 'temp', '1', ...at());
    const del = await cli('models', 'alias', 'delete', 'prices', 'temp', '--reason', 'cleanup', ...at());
    expect(del).toMatchObject({ code: 0, out: "Deleted alias 'temp' of 'prices'\n" });
    const hjson = JSON.parse((await cli('models', 'history', 'prices', '--json', ...at())).out);
    expect(hjson[0]).toMatchObject({ kind: 'alias', alias: 'temp', from_version: '1', reason: 'cleanup' });
  });

  it('downloads a model', async () => {
    const out = join(dir, 'dl');
    const res = await cli('models', 'download', '-m', 'models:/prices@champion', '-o', out, ...at());
    expect(res.code).toBe(0);
    const path = res.out.match(/^Downloaded models:\/prices@champion to (.+)\n$/)?.[1];
    expect(path).toBeDefined();
    expect(existsSync(join(path!, 'MLmodel'))).toBe(true);
    expect(readFileSync(join(path!, 'MLmodel'), 'utf8')).toContain('onnx');
    const json = JSON.parse((await cli('models', 'download', '-m', `runs:/${runId}/model`, '-o', join(dir, 'dl2'), '--json', ...at())).out);
    expect(existsSync(join(json.path, 'MLmodel'))).toBe(true);
  });

  it('predicts from records, dataframe_split and dataframe_records', async () => {
    const records = await cli('models', 'predict', '-m', 'models:/prices@champion', '-i', input('records.json', [{ a: 1, b: 2 }, { a: 0, b: 0 }]), ...at());
    expect(records.err).toBe('');
    expect(records.code).toBe(0);
    const preds = JSON.parse(records.out).predictions as { variable: number }[];
    expect(preds).toHaveLength(2);
    expect(preds[0].variable).toBeCloseTo(9, 5);
    expect(preds[1].variable).toBeCloseTo(1, 5);

    const split = await cli(
      'models', 'predict', '-m', 'models:/prices/1',
      '-i', input('split.json', { dataframe_split: { columns: ['a', 'b'], data: [[1, 2]] } }), ...at(),
    );
    expect(split.code).toBe(0);
    expect(JSON.parse(split.out).predictions[0].variable).toBeCloseTo(9, 5);

    const out = join(dir, 'preds.json');
    const recs = await cli(
      'models', 'predict', '-m', 'models:/prices@champion',
      '-i', input('recs.json', { dataframe_records: [{ b: 2, a: 1 }] }), '-o', out, ...at(),
    );
    expect(recs.code).toBe(0);
    expect(recs.out).toBe('');
    expect(JSON.parse(readFileSync(out, 'utf8')).predictions[0].variable).toBeCloseTo(9, 5);
  });

  it('fails clearly on a missing column, a missing file, bad JSON and an unknown shape', async () => {
    const m = ['models', 'predict', '-m', 'models:/prices@champion'];
    const missingCol = await cli(...m, '-i', input('missing.json', [{ a: 1 }]), ...at());
    expect(missingCol.code).toBe(1);
    expect(missingCol.err).toMatch(/^error: .*Missing column 'b'/);
    expect(missingCol.err).not.toMatch(/\n\s+at /);

    const noFile = await cli(...m, '-i', join(dir, 'absent.json'), ...at());
    expect(noFile.code).toBe(1);
    expect(noFile.err).toBe(`error: Input file '${join(dir, 'absent.json')}' does not exist\n`);

    const badJson = await cli(...m, '-i', input('bad.json', '{"a": 1,'), ...at());
    expect(badJson.code).toBe(1);
    expect(badJson.err).toMatch(/^error: Input file '.*bad\.json' is not valid JSON/);

    const shape = await cli(...m, '-i', input('shape.json', { rows: [] }), ...at());
    expect(shape.code).toBe(1);
    expect(shape.err).toMatch(/^error: Unrecognized input/);

    const noInput = await cli(...m, ...at());
    expect(noInput.code).not.toBe(0);
    expect(noInput.err).toContain('--input-path');
  });
});
