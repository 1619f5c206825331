import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/schema.js';
import type { DatasetInput, KeyValue, Metric, Run } from './entities.js';
import { datasetFromRow, metricFromRow, runFromParts, type RunParts } from './sql-entities.js';

type Db = Kysely<Database> | Transaction<Database>;
const IN_CHUNK = 900;

/** Full Run objects (info, latest metrics, params, tags, inputs, outputs) for ids, in the order given. */
export async function loadRuns(db: Db, runIds: string[]): Promise<Run[]> {
  if (!runIds.length) return [];
  const parts = new Map<string, RunParts>();
  const rowsById = new Map<string, Awaited<ReturnType<typeof selectRuns>>[number]>();
  for (let i = 0; i < runIds.length; i += IN_CHUNK) {
    const ids = runIds.slice(i, i + IN_CHUNK);
    const [rows, metrics, params, tags, inputs, outputs] = await Promise.all([
      selectRuns(db, ids),
      db.selectFrom('latest_metrics').select(['run_uuid', 'key', 'value', 'is_nan', 'timestamp', 'step']).where('run_uuid', 'in', ids).orderBy('key').execute(),
      db.selectFrom('params').selectAll().where('run_uuid', 'in', ids).orderBy('key').execute(),
      db.selectFrom('tags').selectAll().where('run_uuid', 'in', ids).orderBy('key').execute(),
      db.selectFrom('inputs').selectAll().where('destination_type', '=', 'RUN').where('destination_id', 'in', ids).execute(),
      db.selectFrom('run_outputs').selectAll().where('run_uuid', 'in', ids).execute(),
    ]);
    for (const r of rows) {
      rowsById.set(r.run_uuid, r);
      parts.set(r.run_uuid, { metrics: [], params: [], tags: [], datasetInputs: [], modelInputs: [], modelOutputs: [] });
    }
    for (const m of metrics) parts.get(m.run_uuid)?.metrics.push(metricFromRow(m) as Metric);
    for (const p of params) parts.get(p.run_uuid)?.params.push({ key: p.key, value: p.value } as KeyValue);
    for (const t of tags) parts.get(t.run_uuid)?.tags.push({ key: t.key, value: t.value });
    for (const o of outputs) parts.get(o.run_uuid)?.modelOutputs.push({ model_id: o.model_id, step: Number(o.step) });
    const datasetInputs = inputs.filter((x) => x.source_type === 'DATASET');
    for (const x of inputs) if (x.source_type === 'MODEL') parts.get(x.destination_id)?.modelInputs.push(x.source_id);
    if (datasetInputs.length) {
      const [datasets, inputTags] = await Promise.all([
        db.selectFrom('datasets').selectAll().where('dataset_uuid', 'in', [...new Set(datasetInputs.map((x) => x.source_id))]).execute(),
        db.selectFrom('input_tags').selectAll().where('input_uuid', 'in', datasetInputs.map((x) => x.input_uuid)).orderBy('name').execute(),
      ]);
      const dsById = new Map(datasets.map((d) => [d.dataset_uuid, d]));
      const tagsByInput = new Map<string, { key: string; value: string }[]>();
      for (const it of inputTags) {
        const list = tagsByInput.get(it.input_uuid) ?? [];
        list.push({ key: it.name, value: it.value });
        tagsByInput.set(it.input_uuid, list);
      }
      for (const x of datasetInputs) {
        const ds = dsById.get(x.source_id);
        if (!ds) continue;
        const input: DatasetInput = { dataset: datasetFromRow(ds) };
        const t = tagsByInput.get(x.input_uuid);
        if (t) input.tags = t;
        parts.get(x.destination_id)?.datasetInputs.push(input);
      }
    }
  }
  return runIds.flatMap((id) => {
    const row = rowsById.get(id);
    return row ? [runFromParts(row, parts.get(id)!)] : [];
  });
}

function selectRuns(db: Db, ids: string[]) {
  return db.selectFrom('runs').selectAll().where('run_uuid', 'in', ids).execute();
}
