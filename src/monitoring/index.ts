/**
 * Monitoring's statistical core: profiles of data sets and windows, drift of a window against a reference,
 * model performance from labelled predictions, and serving health. Pure computation over columns; storage,
 * scheduling and alerts live elsewhere. See docs/monitoring.md.
 */

// Data
export { categoryKey, columnsFromRows, columnsLength, inferColumnType, isMissing } from './columns.js';
export type { ColumnType, ColumnValues, Columns, Schema } from './columns.js';

// Profiles
export { PROFILE_QUANTILES, PROFILE_VERSION, ProfileBuilder, mergeProfiles, profileColumns, profileRows } from './profile.js';
export type { CategoryProfile, DatasetProfile, FeatureProfile, HistogramProfile, NumericProfile, ProfileOptions } from './profile.js';

// Drift
export { DRIFT_DEFAULTS, DRIFT_METHODS, detectDrift, prepareReference } from './drift.js';
export type { DriftMethod, DriftOptions, DriftReference, DriftReport, FeatureDrift, FeatureDriftStatus, MethodChoice, ReferenceFeature } from './drift.js';
export { detectDriftFromProfiles } from './profile-drift.js';
export { DriftWorkerPool } from './drift-pool.js';
export type { DriftWorkerPoolOptions } from './drift-pool.js';

// Performance and serving health
export { binaryLogLoss, classificationMetrics, multiclassLogLoss, regressionMetrics, rocAuc } from './performance.js';
export type { ClassMetrics, ClassificationMetrics, ClassificationOptions, Label, RegressionMetrics } from './performance.js';
export { percentileSorted, servingHealth } from './serving-health.js';
export type { ServingHealth, ServingRecord } from './serving-health.js';

// The statistics themselves
export { chiSquareAgainstReference, chiSquareSf, chiSquareTest } from './stats/chisquare.js';
export type { ChiSquareResult } from './stats/chisquare.js';
export { histogramSorted, sturgesEdges } from './stats/histogram.js';
export { jensenShannonDistance } from './stats/jensen-shannon.js';
export { kolmogorovSf } from './stats/kolmogorov.js';
export { ksStatistic, ksTwoSample } from './stats/ks.js';
export type { KsMethod, KsResult } from './stats/ks.js';
export { fillEmptyShares, psi } from './stats/psi.js';
export { KllSketch } from './stats/quantile-sketch.js';
export type { KllState } from './stats/quantile-sketch.js';
export { sortFloat64, sortedFinite } from './stats/sort.js';
export { populationStd, wassersteinDistance, wassersteinNormed } from './stats/wasserstein.js';
