import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createArtifactStore } from '../src/artifacts/index.js';
import { ArtifactOutputStore, pipeline, PipelineDefinitionError, runLocal, SqlPipelineStore, step } from '../src/pipelines/index.js';
import {
  artifactValue, LocalDirectory, LocalFile, MaterializerRegistry, withVisualizations, type Materializer,
} from '../src/pipelines/materializers/index.js';
import { PipelineQueries } from '../src/pipelines/pipeline-queries.js';
import { buildApp } from '../src/server/app.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { DIALECTS, freshStore, type TestStore } from './helpers/stores.js';

const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>';

/** Upper-cases strings on save: a custom materializer chosen by name from a step option. */
const shout: Materializer<string> = {
  name: 'shout',
  version: '1',
  type: 'text',
  canHandle: (v) => typeof v === 'string',
  save: (v, dir) => writeFile(join(dir, 'shout.txt'), v.toUpperCase()),
  load: async (dir) => (await import('node:fs/promises')).readFile(join(dir, 'shout.txt'), 'utf8'),
};

describe.each(DIALECTS)('step materializer choice and visualizations on %s', (dialect) => {
  let ts: TestStore;
  let dir: string;
  let app: FastifyInstance;
  let opts: Parameters<typeof runLocal>[1];
  let queries: PipelineQueries;

  beforeEach(async () => {
    ts = await freshStore(dialect);
    dir = mkdtempSync(join(tmpdir(), 'flywheel-viz-'));
    const artifacts = createArtifactStore({ root: join(dir, 'artifacts'), serveArtifacts: true });
    const tracking = new SqlTrackingStore(ts.store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    queries = new PipelineQueries(ts.store);
    app = await buildApp({ tracking, artifacts, pipelines: queries, logger: false });
    const registry = new MaterializerRegistry().register(shout);
    opts = {
      recorder: new SqlPipelineStore(ts.store),
      outputStore: new ArtifactOutputStore({ store: ts.store, repository: artifacts.repository, registry }),
    };
  });
  afterEach(async () => {
    await app.close();
    await ts.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const outputsOf = async (pipelineRunId: string) => {
    const run = await queries.getPipelineRun(pipelineRunId);
    return Object.fromEntries(run.step_runs.map((s) => [s.step_name, s]));
  };

  it('a step option picks the materializer, per output too; consumers get the plain value', async () => {
    const words = step('words', () => 'hello', { materializer: 'shout' });
    const pair = step('pair', () => ({ a: withVisualizations([1, 2], [{ kind: 'markdown', markdown: 'two numbers' }]), b: 'text' }), {
      outputs: ['a', 'b'],
      materializer: { b: 'shout' },
    });
    const join2 = step('join', ({ w, b }: { w: string; b: string }) => `${w}+${b}`);
    const runtime = step('runtime', () => artifactValue('late', { materializer: 'shout' }));
    const p = pipeline('choice', () => {
      const { a, b } = pair();
      return { j: join2({ w: words(), b }), a, r: runtime() };
    });
    const result = await runLocal(p, opts);
    expect(result.status).toBe('COMPLETED');
    const steps = await outputsOf(result.pipelineRunId);
    expect((steps.words.outputs!.output as any).materializer).toEqual({ name: 'shout', version: '1' });
    expect((steps.pair.outputs!.b as any).materializer.name).toBe('shout');
    expect((steps.pair.outputs!.a as any).materializer.name).toBe('json');
    const a = await queries.getArtifactVersionRow((steps.pair.outputs!.a as any).artifactVersionId);
    expect((a.metadata as any).visualizations.at(-1)).toEqual({ kind: 'markdown', markdown: 'two numbers' });
    expect(await result.value((p.build().returned as any).a)).toEqual([1, 2]);
    expect((steps.runtime.outputs!.output as any).materializer.name).toBe('shout');
    // The consumer loads through the chosen materializer: what it stored (upper-cased) comes back.
    expect(await result.value((p.build().returned as any).j)).toBe('HELLO+TEXT');
  });

  it('a value the chosen materializer cannot handle fails the step, naming the materializer', async () => {
    const bad = step('bad', () => new Map([[1, 2]]), { materializer: 'json' });
    const unknown = step('unknown', () => 1, { materializer: 'nope' });
    const after = step('after', ({ x }: { x: unknown }) => x);
    const p = pipeline('failing', () => {
      after({ x: bad() });
      unknown();
    });
    const result = await runLocal(p, { ...opts, mode: 'continueOnFailure' });
    expect(result.status).toBe('FAILED');
    const steps = await outputsOf(result.pipelineRunId);
    expect(steps.bad.status).toBe('FAILED');
    expect(steps.bad.error).toContain("output 'output' of step 'bad' (materializer 'json' chosen by the step)");
    expect(steps.bad.error).toContain("Materializer 'json' cannot handle a value of type Map");
    expect(steps.unknown.error).toContain("Unknown materializer 'nope'; registered: shout, string");
    expect(steps.after.status).toBe('SKIPPED');
    // Bad options are refused when the step is defined.
    expect(() => step('s', () => 1, { materializer: 3 as never })).toThrow(PipelineDefinitionError);
    expect(() => step('s', () => ({ a: 1 }), { outputs: ['a'], materializer: { z: 'json' } })).toThrow(/unknown output 'z'/);
  });

  it('stores image, SVG, HTML and markdown visualizations and serves them with safe headers', async () => {
    const files = join(dir, 'files');
    await mkdir(join(files, 'report'), { recursive: true });
    await writeFile(join(files, 'plot.png'), PNG);
    await writeFile(join(files, 'report', 'index.html'), '<h1>Report</h1><script>alert(1)</script>');
    await writeFile(join(files, 'report', 'chart.svg'), SVG);
    await writeFile(join(files, 'report', 'notes.md'), '# Notes');
    const plot = step('plot', () => new LocalFile(join(files, 'plot.png')));
    const report = step('report', () => new LocalDirectory(join(files, 'report')));
    const summary = step('summary', () =>
      withVisualizations({ accuracy: 0.9 }, [
        { kind: 'markdown', markdown: '**accuracy** 0.9', title: 'Summary' },
        { kind: 'image', mimeType: 'image/png', data: PNG },
        { kind: 'html', html: '<p onclick="x()">hi</p>' },
      ]),
    );
    const p = pipeline('viz', () => ({ a: plot(), b: report(), c: summary() }));
    const result = await runLocal(p, opts);
    expect(result.status).toBe('COMPLETED');
    const steps = await outputsOf(result.pipelineRunId);
    const id = (s: string) => steps[s].output_artifact_version_ids[0];
    const get = (url: string) => app.inject({ method: 'GET', url });

    const plotViz = (await get(`/api/v1/artifact-versions/${id('plot')}/visualizations`)).json().visualizations;
    expect(plotViz).toEqual([
      { index: 0, kind: 'image', title: 'plot.png', mime_type: 'image/png', content_path: `artifact-versions/${id('plot')}/visualizations/0/content` },
    ]);
    const png = await get(`/api/v1/artifact-versions/${id('plot')}/visualizations/0/content`);
    expect(png.statusCode).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.headers['x-content-type-options']).toBe('nosniff');
    expect(png.headers['content-security-policy']).toBe('sandbox');
    expect(png.rawPayload.equals(PNG)).toBe(true);

    const reportViz = (await get(`/api/v1/artifact-versions/${id('report')}/visualizations`)).json().visualizations;
    expect(reportViz.map((v: any) => [v.kind, v.title, v.sandbox ?? false])).toEqual([
      ['image', 'chart.svg', false],
      ['html', 'index.html', true],
      ['markdown', 'notes.md', false],
    ]);
    expect(reportViz[2].markdown).toBe('# Notes');
    const svg = await get(`/api/v1/artifact-versions/${id('report')}/visualizations/0/content`);
    expect(svg.headers['content-type']).toBe('image/svg+xml');
    expect(svg.headers['content-security-policy']).toBe('sandbox');
    expect(svg.headers['content-disposition']).toMatch(/^attachment; filename="chart.svg"$/);
    expect(svg.body).toBe(SVG);
    const html = await get(`/api/v1/artifact-versions/${id('report')}/visualizations/1/content`);
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(html.headers['content-security-policy']).toBe('sandbox');
    expect(html.headers['x-content-type-options']).toBe('nosniff');
    expect(html.headers['content-disposition']).toMatch(/^attachment;/);
    expect(html.body).toContain('<h1>Report</h1>');

    const sumViz = (await get(`/api/v1/artifact-versions/${id('summary')}/visualizations`)).json().visualizations;
    expect(sumViz.map((v: any) => v.kind)).toEqual(['markdown', 'markdown', 'image', 'html']); // json preview first
    expect(sumViz[1]).toMatchObject({ title: 'Summary', markdown: '**accuracy** 0.9' });
    const inlinePng = await get(`/api/v1/artifact-versions/${id('summary')}/visualizations/2/content`);
    expect(inlinePng.headers['content-type']).toBe('image/png');
    expect(inlinePng.rawPayload.equals(PNG)).toBe(true);
    const inlineHtml = await get(`/api/v1/artifact-versions/${id('summary')}/visualizations/3/content`);
    expect(inlineHtml.headers['content-security-policy']).toBe('sandbox');
    expect(inlineHtml.body).toBe('<p onclick="x()">hi</p>');
    // The value itself is stored without the envelope.
    expect(await result.value((p.build().returned as any).c)).toEqual({ accuracy: 0.9 });

    expect((await get(`/api/v1/artifact-versions/${id('plot')}/visualizations/5/content`)).statusCode).toBe(404);
    expect((await get(`/api/v1/artifact-versions/${id('plot')}/visualizations/x/content`)).statusCode).toBe(404);
    expect((await get('/api/v1/artifact-versions/nope/visualizations')).statusCode).toBe(404);
  });

  it('a bad user visualization fails the step with the reason', async () => {
    const s = step('s', () => withVisualizations(1, [{ kind: 'image', mimeType: 'text/html', data: 'PGI+' }]));
    const result = await runLocal(pipeline('badviz', () => s()), opts);
    expect(result.status).toBe('FAILED');
    expect(result.steps.s.error).toMatch(/Invalid visualization at visualizations\.0/);
  });
});
