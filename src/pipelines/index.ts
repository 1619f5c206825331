export {
  step,
  pipeline,
  isStepOutput,
  topologicalOrder,
  upstreamOf,
  DEFAULT_OUTPUT,
  type JsonValue,
  type Params,
  type StepOutput,
  type StepContext,
  type StepHookInfo,
  type StepOptions,
  type StepCallOptions,
  type StepInputs,
  type StepFn,
  type StepDefinition,
  type StepNode,
  type InputRef,
  type Pipeline,
  type PipelineGraph,
  type PipelineOptions,
} from './dsl.js';
export { PipelineDefinitionError, StepTimeoutError, StepCancelledError } from './errors.js';
export { loadPipelineConfig, parsePipelineConfig, type PipelineConfig, type StepConfig } from './config.js';
export {
  InMemoryOutputStore,
  isCachingOutputStore,
  type CachingOutputStore,
  type OutputStore,
  type OutputRef,
  type StoredOutput,
} from './output-store.js';
export {
  runLocal,
  type LocalRunOptions,
  type FailureMode,
  type RunHooks,
  type StepResult,
  type PipelineRunResult,
  type ProgressEvent,
} from './local-orchestrator.js';
export {
  SqlPipelineStore,
  processAlive,
  TAG_PARENT_RUN,
  TAG_PIPELINE_RUN,
  TAG_STEP_RUN,
  TAG_STEP_NAME,
  type PipelineRecorder,
  type StartStepRunRequest,
  type FinishStepRunRequest,
  type PipelineRunRecord,
  type StepRunRecord,
  type CacheCandidate,
} from './sql-pipeline-store.js';
export { ArtifactOutputStore, type ArtifactOutputStoreOptions, type ArtifactStoredOutput } from './artifact-output-store.js';
export { CacheHashes, lookupCache, finalDecision, type CacheDecision, type CacheLookup } from './step-cache.js';
export { commandStep, type CommandStepOptions, type CommandOutputKind } from './command-step.js';
