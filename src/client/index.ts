export { Flywheel, type FlywheelOptions, type CreateExperimentOptions, type SearchExperimentsOptions, type StartRunOptions, type SearchRunsOptions } from './flywheel.js';
export { ActiveRun, type ParamValue, type MetricOptions, type LogBatchInput } from './active-run.js';
export { HttpTrackingClient } from './http-tracking-client.js';
export { HttpTransport, type HttpTransportOptions } from './http-transport.js';
export { HttpArtifactRepository } from './http-artifact-repository.js';
export { openBackend, defaultTrackingUri, DEFAULT_TRACKING_URI, type TrackingBackend, type BackendOptions } from './backend.js';
