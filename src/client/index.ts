export {
  Flywheel,
  type FlywheelOptions,
  type CreateExperimentOptions,
  type SearchExperimentsOptions,
  type StartRunOptions,
  type SearchRunsOptions,
  type RegisterModelOptions,
  type SearchRegisteredModelsOptions,
  type PromotionOptions,
  type TransitionStageOptions,
} from './flywheel.js';
export { ActiveRun, type ParamValue, type MetricOptions, type LogBatchInput, type LogModelOptions, type LoggedModelInfo } from './active-run.js';
export { HttpTrackingClient } from './http-tracking-client.js';
export { HttpTransport, type HttpTransportOptions } from './http-transport.js';
export { HttpArtifactRepository } from './http-artifact-repository.js';
export { openBackend, defaultTrackingUri, DEFAULT_TRACKING_URI, type TrackingBackend, type BackendOptions } from './backend.js';
export { HttpRegistryClient } from './http-registry-client.js';
export { parseModelUri, type ParsedModelUri } from './model-uri.js';
