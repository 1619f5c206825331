import type { Db } from './sql-registry-rows.js';
import type { PromotionEvent, PromotionKind } from './entities.js';

/** The promotion history: written in the same transaction as the alias or stage change it records. */
export interface NewPromotionEvent {
  name: string;
  kind: PromotionKind;
  target: string;
  from_version: number | null;
  to_version: number | null;
  actor: string;
  reason?: string;
  timestamp: number;
}

export async function recordPromotion(db: Db, e: NewPromotionEvent): Promise<void> {
  await db.insertInto('promotion_events').values({ ...e, reason: e.reason || null }).execute();
}

/** Newest first. */
export async function listPromotions(db: Db, name: string): Promise<PromotionEvent[]> {
  const rows = await db.selectFrom('promotion_events').selectAll().where('name', '=', name).orderBy('id', 'desc').execute();
  return rows.map((r) => ({
    id: Number(r.id),
    name: r.name,
    kind: r.kind as PromotionKind,
    ...(r.kind === 'alias' ? { alias: r.target } : { stage: r.target }),
    from_version: r.from_version === null ? undefined : String(r.from_version),
    to_version: r.to_version === null ? undefined : String(r.to_version),
    actor: r.actor,
    reason: r.reason ?? undefined,
    timestamp: Number(r.timestamp),
  }));
}

/** The most recent event of one alias, the one a rollback undoes. */
export async function lastAliasEvent(db: Db, name: string, alias: string) {
  return db
    .selectFrom('promotion_events')
    .selectAll()
    .where('name', '=', name)
    .where('kind', '=', 'alias')
    .where('target', '=', alias)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}
