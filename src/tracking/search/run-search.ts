import { sql, type Kysely, type SqlBool } from 'kysely';
import { LIMITS } from '../../core/limits.js';
import type { Database, StoreDialect } from '../../store/index.js';
import type { SearchRunsRequest } from '../service.js';
import { parseRunFilter, parseRunOrderBy, type RunClause } from './filter-parser.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { experimentIdList, lifecycleStages, parseViewType, validateMaxResults } from './request.js';
import { hasInnerJoin, plan, presenceClause } from './run-sql.js';
import { and, inList } from './sql-helpers.js';

/**
 * Below this many candidate runs, SQLite scans the experiment's runs rather than walking a (key, value)
 * index across every experiment (SQLite keeps no statistics unless ANALYZE runs, so it cannot tell).
 */
const SMALL_CANDIDATE_SET = 5000;

/**
 * The ids of one page of runs matching a `runs/search` request, in order. Validates the whole request
 * (max_results, view type, filter, order_by, page token) and throws INVALID_PARAMETER_VALUE on bad input.
 */
export async function searchRunIds(
  db: Kysely<Database>,
  dialect: StoreDialect,
  req: SearchRunsRequest,
): Promise<{ runIds: string[]; nextPageToken?: string }> {
  const maxResults = validateMaxResults(req.max_results, LIMITS.searchRunsDefault, LIMITS.searchRunsMaxResults);
  const view = parseViewType(req.run_view_type);
  const clauses = parseRunFilter(req.filter ?? '');
  const orders = parseRunOrderBy(req.order_by ?? []);
  const offset = decodePageToken(req.page_token);
  const experimentIds = experimentIdList(req.experiment_ids);
  if (experimentIds.length === 0) return { runIds: [] };

  const stage = lifecycleStages(view);
  const scope = [
    inList(dialect, sql.ref('r.experiment_id'), experimentIds, 'integer'),
    ...(stage ? [sql<SqlBool>`r.lifecycle_stage = ${stage}`] : []),
  ];
  // Ordered first on a metric/param/tag the filter does not require: the runs that have it come first,
  // so a page that lies among them is answered by the (index-ordered) inner-join query alone.
  const first = orders[0];
  const shortcut =
    first !== undefined && first.entity !== 'attribute' && !hasInnerJoin(clauses, [first])
      ? presenceClause(first)
      : undefined;

  let runsFirst = false;
  if (dialect === 'sqlite' && (shortcut || hasInnerJoin(clauses, orders))) {
    const { rows } = await sql<{ n: number }>`select count(*) as n from
      (select 1 from runs as r where ${and(scope)} limit ${SMALL_CANDIDATE_SET + 1}) as candidates`.execute(db);
    const n = Number(rows[0]?.n ?? 0);
    if (n === 0) return { runIds: [] };
    runsFirst = n <= SMALL_CANDIDATE_SET;
  }
  const page = async (filter: RunClause[]) => {
    const { joins, where, terms } = plan(dialect, filter, orders, runsFirst);
    const query = sql<{ run_uuid: string }>`select r.run_uuid as run_uuid from runs as r ${sql.join(joins, sql` `)}
      where ${and([...scope, ...where])} order by ${sql.join(terms)} limit ${maxResults + 1} offset ${offset}`;
    return (await query.execute(db)).rows;
  };
  let rows: { run_uuid: string }[] | undefined;
  // (A small candidate set is sorted whole at once; trying the shortcut first would only add a query.)
  if (shortcut && !runsFirst) {
    rows = await page([...clauses, shortcut]);
    if (rows.length <= maxResults) rows = undefined;
  }
  rows ??= await page(clauses);
  const runIds = rows.slice(0, maxResults).map((row) => row.run_uuid);
  return rows.length > maxResults ? { runIds, nextPageToken: encodePageToken(offset + maxResults) } : { runIds };
}
