/**
 * The seams between the inference server (`serving/server*`) and what it reports to: the inference log
 * and the deployment registration. The server only ever calls these interfaces; the implementations
 * (`inference-log.ts`, `deployment-reporter.ts`) decide where things go (the Flywheel server's native API,
 * or a local file when no server is configured).
 */

/** One scoring request as the inference log keeps it: what monitoring reads. */
export interface InferenceRecord {
  /** The request id (also returned to the caller in the `x-request-id` header). */
  requestId: string;
  /** When the request arrived, ms since the epoch. */
  timestamp: number;
  /** The registered model's name and version, when the served URI came from the registry. */
  modelName: string | null;
  modelVersion: string | null;
  /** The URI the server was started with (`models:/fraud@champion`, `runs:/…`, a path). */
  modelUri: string;
  /** The deployment's name when it registered as one, else null. */
  deployment: string | null;
  /** Traffic-split label (`champion`, `challenger`, `shadow`), null without a split. */
  variant: string | null;
  /** Which protocol answered: MLflow scoring (`/invocations`) or Open Inference Protocol v2. */
  protocol: 'mlflow' | 'v2';
  /** Input rows, one object per row, feature name → value (tensor inputs: input name → row's values). */
  inputs: Record<string, unknown>[];
  /** One prediction per input row (a scalar, an array, or an object of named outputs); [] on error. */
  outputs: unknown[];
  /** Server-side time to answer, ms. */
  latencyMs: number;
  /** HTTP status of the answer. */
  status: number;
  /** The error message for a non-2xx answer. */
  error?: string;
}

export interface InferenceLogStats {
  /** Records waiting to be shipped. */
  queued: number;
  /** Records the destination acknowledged. */
  shipped: number;
  /** Records dropped because the bounded buffer was full (each drop is counted and logged). */
  dropped: number;
  /** Shipping attempts that failed (and were retried). */
  failedAttempts: number;
}

/** Where the server puts every prediction. `record` never throws and never waits on I/O. */
export interface InferenceLogSink {
  record(entry: InferenceRecord): void;
  /** Ships everything buffered now (resolves when acknowledged or when shipping gives up). */
  flush(): Promise<void>;
  /** Flushes, then stops background shipping. */
  close(): Promise<void>;
  stats(): InferenceLogStats;
}

/** What a serving process tells the server about itself. */
export interface DeploymentInfo {
  /** Unique per deployment (default: the model name, or derived from the URI). */
  name: string;
  modelUri: string;
  modelName: string | null;
  /** The version being served now (changes when an alias moves). */
  modelVersion: string | null;
  /** Where the endpoint answers, e.g. `http://host:8080`. */
  endpoint: string;
  /** Traffic split description, when there is one (free-form JSON). */
  traffic?: Record<string, unknown>;
}

/** Registers a deployment, heartbeats while it runs, reports version switches, marks it stopped on close. */
export interface DeploymentReporter {
  start(info: DeploymentInfo): Promise<void>;
  /** The served version changed (hot swap). */
  update(change: Partial<Pick<DeploymentInfo, 'modelVersion' | 'traffic'>>): Promise<void>;
  stop(): Promise<void>;
}
