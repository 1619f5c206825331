/**
 * MLflow's search grammar (runs, experiments, logged models), compiled to parameterised SQL that behaves
 * the same on SQLite and PostgreSQL. Every bad input is an INVALID_PARAMETER_VALUE FlywheelError.
 */
export {
  parseRunFilter,
  parseRunOrderBy,
  MAX_ORDER_BY,
  type RunClause,
  type RunOrder,
  type RunEntity,
  type RunAttribute,
  type DatasetField,
} from './filter-parser.js';
export type { Condition, NumericOp, StringOp, ListOp, NullOp } from './conditions.js';
export { MAX_CLAUSES } from './syntax.js';
export { searchRunIds } from './run-search.js';
export {
  searchExperimentIds,
  parseExperimentFilter,
  parseExperimentOrderBy,
  type ExperimentClause,
  type ExperimentOrder,
} from './experiment-search.js';
export {
  searchLoggedModelIds,
  parseLoggedModelFilter,
  parseLoggedModelOrderBy,
  type LoggedModelClause,
  type LoggedModelOrder,
} from './logged-model-search.js';
export { encodePageToken, decodePageToken } from './page-token.js';
export { validateMaxResults, parseViewType, experimentIdList, parseExperimentId, MAX_RESULTS_LIMIT } from './request.js';
