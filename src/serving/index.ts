export * from './contracts.js';
export { startServing, buildServingApp, SERVING_DEFAULTS, type ServingOptions, type ServingServer } from './server.js';
export { ServingMetrics, shareWithPrimary, clusterRegistry } from './metrics.js';
export { Batcher, type BatcherOptions } from './batcher.js';
export { ModelHolder, ModelSource, type CheckOutcome } from './model-holder.js';
export { loadServingModel } from './load-serving-model.js';
export type { ServingModel, ScoringResult, ModelIdentity, V2Tensor, TensorMetadata } from './serving-model.js';
export type { InputLayout, PreparedInput, RequestData } from './input.js';
