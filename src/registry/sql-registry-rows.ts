import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database, ModelVersionTable, RegisteredModelTable } from '../store/schema.js';
import { STAGES, type ModelVersion, type RegisteredModel, type Stage } from './entities.js';

export type Db = Kysely<Database> | Transaction<Database>;
type VersionRow = Selectable<ModelVersionTable>;

const opt = (v: string | null | undefined) => (v === null || v === undefined || v === '' ? undefined : v);
const nonEmpty = <T>(list: T[]) => (list.length ? list : undefined);

/** Model versions with their tags and aliases, in the order of `rows`. */
export async function versionsFromRows(db: Db, rows: VersionRow[]): Promise<ModelVersion[]> {
  if (rows.length === 0) return [];
  const names = [...new Set(rows.map((r) => r.name))];
  const [tags, aliases] = await Promise.all([
    db.selectFrom('model_version_tags').selectAll().where('name', 'in', names).orderBy('key').execute(),
    db.selectFrom('registered_model_aliases').selectAll().where('name', 'in', names).orderBy('alias').execute(),
  ]);
  const keyOf = (name: string, version: number) => `${name}\u0000${Number(version)}`;
  const tagsBy = new Map<string, { key: string; value: string }[]>();
  for (const t of tags) {
    const k = keyOf(t.name, t.version);
    if (!tagsBy.has(k)) tagsBy.set(k, []);
    tagsBy.get(k)!.push({ key: t.key, value: t.value });
  }
  const aliasesBy = new Map<string, string[]>();
  for (const a of aliases) {
    const k = keyOf(a.name, a.version);
    if (!aliasesBy.has(k)) aliasesBy.set(k, []);
    aliasesBy.get(k)!.push(a.alias);
  }
  return rows.map((r) => {
    const k = keyOf(r.name, r.version);
    return {
      name: r.name,
      version: String(r.version),
      creation_timestamp: Number(r.creation_timestamp),
      last_updated_timestamp: Number(r.last_updated_timestamp),
      user_id: opt(r.user_id),
      current_stage: r.current_stage as Stage,
      description: opt(r.description),
      source: r.source,
      run_id: opt(r.run_id),
      status: r.status as ModelVersion['status'],
      status_message: opt(r.status_message),
      tags: tagsBy.get(k),
      run_link: opt(r.run_link),
      aliases: aliasesBy.get(k),
    };
  });
}

export async function loadVersionRow(db: Db, name: string, version: number): Promise<VersionRow | undefined> {
  return db.selectFrom('model_versions').selectAll().where('name', '=', name).where('version', '=', version).executeTakeFirst();
}

/** The latest version in each stage (stages in canonical order), optionally only the given stages. */
export async function latestVersions(db: Db, name: string, stages: readonly Stage[] = STAGES): Promise<ModelVersion[]> {
  const rows = await db.selectFrom('model_versions').selectAll().where('name', '=', name).orderBy('version', 'desc').execute();
  const latest = new Map<string, VersionRow>();
  for (const r of rows) if (!latest.has(r.current_stage)) latest.set(r.current_stage, r);
  return versionsFromRows(db, stages.flatMap((s) => (latest.has(s) ? [latest.get(s)!] : [])));
}

/** Registered models with latest versions, tags and aliases, in the order of `rows`. */
export async function modelsFromRows(db: Db, rows: Selectable<RegisteredModelTable>[]): Promise<RegisteredModel[]> {
  if (rows.length === 0) return [];
  const names = rows.map((r) => r.name);
  const [tags, aliases] = await Promise.all([
    db.selectFrom('registered_model_tags').selectAll().where('name', 'in', names).orderBy('key').execute(),
    db.selectFrom('registered_model_aliases').selectAll().where('name', 'in', names).orderBy('alias').execute(),
  ]);
  const out: RegisteredModel[] = [];
  for (const r of rows) {
    out.push({
      name: r.name,
      creation_timestamp: Number(r.creation_timestamp),
      last_updated_timestamp: Number(r.last_updated_timestamp),
      user_id: opt(r.user_id),
      description: opt(r.description),
      latest_versions: nonEmpty(await latestVersions(db, r.name)),
      tags: nonEmpty(tags.filter((t) => t.name === r.name).map((t) => ({ key: t.key, value: t.value }))),
      aliases: nonEmpty(aliases.filter((a) => a.name === r.name).map((a) => ({ alias: a.alias, version: String(a.version) }))),
    });
  }
  return out;
}
