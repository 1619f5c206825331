/** The `flywheel` package: the SDK client and the types it speaks (MLflow's wire shapes). */
export * from './client/index.js';
export { FlywheelError, isFlywheelError, type ErrorCode } from './core/errors.js';
export type {
  Experiment,
  Run,
  RunInfo,
  RunStatus,
  Metric,
  KeyValue,
  Dataset,
  DatasetInput,
  ViewType,
  LifecycleStage,
  Page,
  LoggedModel,
  LoggedModelStatus,
} from './tracking/entities.js';
export type { TrackingService } from './tracking/service.js';
export type {
  ModelVersion,
  ModelVersionLineage,
  ModelVersionStatus,
  PromotionEvent,
  PromotionKind,
  RegisteredModel,
  RegisteredModelAlias,
  Stage,
} from './registry/entities.js';
export type { RegistryService, Actor, CreateModelVersionRequest, SearchRequest } from './registry/service.js';
export type { FileInfo } from './artifacts/types.js';
export {
  buildLinearRegressionOnnx,
  buildLogisticRegressionOnnx,
  saveModel,
  loadModelFromDirectory,
  type LoadedModel,
  type ModelSignature,
  type SaveModelFlavor,
} from './models/index.js';
// ---- pipelines: the DSL, the local orchestrator and the values steps pass around ----
export {
  step,
  pipeline,
  commandStep,
  runLocal,
  loadPipelineConfig,
  PipelineDefinitionError,
  StepTimeoutError,
  StepCancelledError,
  type JsonValue,
  type Params,
  type StepOutput,
  type StepContext,
  type StepHookInfo,
  type StepOptions,
  type StepCallOptions,
  type Pipeline,
  type PipelineGraph,
  type PipelineOptions,
  type PipelineConfig,
  type LocalRunOptions,
  type PipelineRunResult,
  type ProgressEvent,
  type CommandStepOptions,
} from './pipelines/index.js';
export {
  LocalFile,
  LocalDirectory,
  ModelDirectory,
  withVisualizations,
  artifactValue,
  type Materializer,
  type Visualization,
  type VisualizationInput,
  type ArtifactValueOptions,
} from './pipelines/materializers/index.js';
export { artifactLocation } from './pipelines/model-lineage.js';
