import { isFlywheelError } from '../core/errors.js';
import type { TrackingService } from '../tracking/service.js';
import { CAS_ROOT, hashDirectory } from './materializers/content-store.js';
import type { ArtifactVersionView, PipelineQueries, StepRunView } from './pipeline-queries.js';
import { TAG_STEP_RUN } from './sql-pipeline-store.js';

/**
 * Where a step output directory (e.g. a model a step received as input) is stored when the pipeline's
 * artifact repository is the tracking server's artifact root, as `flywheel pipeline run` arranges:
 * `mlflow-artifacts:/cas/<hh>/<hash>`. A model version registered from this URI shares the artifact's files.
 */
export async function artifactLocation(dir: string): Promise<string> {
  const { hash } = await hashDirectory(dir);
  return `mlflow-artifacts:/${CAS_ROOT}/${hash.slice(0, 2)}/${hash}`;
}

export interface StepRunRef {
  id: string;
  step_name: string;
  status: string;
  pipeline_run_id: string;
  tracking_run_id: string | null;
  start_time: number;
  end_time: number | null;
}

export interface ArtifactVersionRef {
  id: string;
  name: string;
  version: number;
  content_hash: string;
  type: string;
  uri: string;
  producer_step_run_id: string | null;
  /** The producing step's name (null for a version no step produced). */
  producer_step: string | null;
}

/** How a registered model version came out of a pipeline. */
export interface ModelPipelineLineage {
  /** The step run whose tracking run the version was registered with (e.g. a `register` step). */
  registered_by_step_run: StepRunRef | null;
  /** The model's artifact version (the registered files). */
  model_artifact_version: ArtifactVersionRef;
  /** The step run that produced the model, and its pipeline run. */
  producer_step_run: StepRunRef | null;
  pipeline_run: { id: string; pipeline_name: string; status: string; start_time: number; end_time: number | null; tracking_run_id: string | null } | null;
  /** Artifact versions the model was made from, transitively (depth 1 = the producing step's inputs). */
  upstream: (ArtifactVersionRef & { depth: number; consumed_by_step_run_id: string })[];
  /** Where the chain starts: versions (the model's, or upstream) whose producing step consumed no artifact. */
  roots: ArtifactVersionRef[];
}

const stepRef = (s: StepRunView): StepRunRef => ({
  id: s.id,
  step_name: s.step_name,
  status: s.status,
  pipeline_run_id: s.pipeline_run_id,
  tracking_run_id: s.tracking_run_id,
  start_time: s.start_time,
  end_time: s.end_time,
});

/**
 * Walks from a registered model version back to the pipeline data it came from. The version's run is a
 * step's tracking run (tag `flywheel.stepRunId`); the model is the artifact version of type `model` that
 * step consumed (the one at the version's source when several) or produced; from there the producing step
 * runs' consumed artifact versions are followed up to the roots. Null when the version's run is not a
 * pipeline step's, or that step touched no model artifact.
 */
export async function modelPipelineLineage(
  deps: { tracking: TrackingService; queries: PipelineQueries },
  version: { run_id?: string | null; source: string },
): Promise<ModelPipelineLineage | null> {
  const { tracking, queries } = deps;
  if (!version.run_id) return null;
  let stepRunId: string | undefined;
  try {
    const run = await tracking.getRun(version.run_id);
    stepRunId = run.data.tags?.find((t) => t.key === TAG_STEP_RUN)?.value;
  } catch (e) {
    if (isFlywheelError(e) && e.code === 'RESOURCE_DOES_NOT_EXIST') return null;
    throw e;
  }
  if (!stepRunId) return null;
  const steps = new Map<string, StepRunView | null>();
  const stepRun = async (id: string): Promise<StepRunView | null> => {
    if (!steps.has(id)) {
      try {
        steps.set(id, await queries.getStepRun(id));
      } catch (e) {
        if (!(isFlywheelError(e) && e.code === 'RESOURCE_DOES_NOT_EXIST')) throw e;
        steps.set(id, null);
      }
    }
    return steps.get(id)!;
  };
  const registeredBy = await stepRun(stepRunId);
  if (!registeredBy) return null;

  const candidates: ArtifactVersionView[] = [];
  for (const id of [...registeredBy.input_artifact_version_ids, ...registeredBy.output_artifact_version_ids]) {
    const v = await queries.getArtifactVersionRow(id);
    if (v.type === 'model') candidates.push(v);
  }
  const source = version.source.replace(/\/+$/, '');
  const model = candidates.find((v) => `mlflow-artifacts:/${v.uri}` === source) ?? candidates[0];
  if (!model) return null;

  const ref = async (v: ArtifactVersionView): Promise<ArtifactVersionRef> => ({
    id: v.id,
    name: v.name,
    version: v.version,
    content_hash: v.content_hash,
    type: v.type,
    uri: v.uri,
    producer_step_run_id: v.producer_step_run_id,
    producer_step: v.producer_step_run_id ? ((await stepRun(v.producer_step_run_id))?.step_name ?? null) : null,
  });
  const producer = model.producer_step_run_id ? await stepRun(model.producer_step_run_id) : null;
  const runId = producer?.pipeline_run_id ?? registeredBy.pipeline_run_id;
  const run = await queries.getPipelineRun(runId);

  const upstream: ModelPipelineLineage['upstream'] = [];
  for (const u of (await queries.lineage(model.id)).upstream) {
    upstream.push({ ...(await ref(u.artifact_version)), depth: u.depth, consumed_by_step_run_id: u.consumed_by_step_run_id });
  }
  const roots: ArtifactVersionRef[] = [];
  for (const v of [await ref(model), ...upstream]) {
    const p = v.producer_step_run_id ? await stepRun(v.producer_step_run_id) : null;
    if (!p || p.input_artifact_version_ids.length === 0) {
      const { id, name, version: n, content_hash, type, uri, producer_step_run_id, producer_step } = v;
      roots.push({ id, name, version: n, content_hash, type, uri, producer_step_run_id, producer_step });
    }
  }
  return {
    registered_by_step_run: stepRef(registeredBy),
    model_artifact_version: await ref(model),
    producer_step_run: producer ? stepRef(producer) : null,
    pipeline_run: {
      id: run.id,
      pipeline_name: run.pipeline_name,
      status: run.status,
      start_time: run.start_time,
      end_time: run.end_time,
      tracking_run_id: run.tracking_run_id,
    },
    upstream,
    roots,
  };
}
