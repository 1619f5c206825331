import { FlywheelError, invalidParameter } from '../core/index.js';
import { classifyArtifactUri, type ArtifactUriClass } from '../artifacts/uri.js';

/**
 * Model version sources. A source must resolve inside the artifact store this server controls:
 *
 * - `runs:/<run_id>/<path>` → the run's artifact_uri joined with the path (the run must exist);
 * - `models:/m-<id>[/<path>]` → the MLflow 3 logged model's artifact_uri (joined with the path);
 * - `mlflow-artifacts:/<path>` → as is (proxied through this server);
 * - any other URI only when it lies under the artifact_uri of the run given as `run_id` (what MLflow 2.x
 *   clients send: `runs:/` resolved on the client side), and a `file:` one only when that artifact_uri is
 *   itself local (inside the artifact root);
 * - everything else is refused: plain paths, `file:` outside a run's own location, `http(s)://`, `//host`,
 *   unknown schemes.
 *
 * The resolved URI goes through the one artifact URI classifier, which checks the raw string and every
 * percent-decoded form of it (`..` segments, NUL and control characters, `#`, `?`, `;`, backslashes). Tags
 * on the request play no part in any of this.
 */
export interface SourceContext {
  getRunArtifactUri(runId: string): Promise<string>;
  getLoggedModelArtifactUri(modelId: string): Promise<string>;
  /**
   * Where an existing registered version keeps its files, for `models:/<name>/<version|stage|latest>` and
   * `models:/<name>@<alias>` sources (copying a version into another model). Optional.
   */
  getRegisteredVersionArtifactUri?(name: string, ref: { version?: string; stage?: string; alias?: string }): Promise<string>;
  /** The artifact store's classifier (with its root); defaults to classifyArtifactUri without a root. */
  classify?: (uri: string) => ArtifactUriClass;
}

export interface ResolvedSource {
  /** The concrete artifact URI the source stands for (get-download-uri). */
  artifactUri: string;
  /** The run named by a `runs:/` source. */
  sourceRunId?: string;
  /** The logged model named by a `models:/m-…` source. */
  modelId?: string;
}

const RUN_ID = /^[a-zA-Z0-9][\w-]{0,255}$/;
const LOGGED_MODEL_ID = /^m-[A-Za-z0-9]{1,64}$/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

function refuse(source: string, why: string): never {
  const shown = (source.length > 200 ? `${source.slice(0, 200)}…` : source).replace(/[\u0000-\u001f\u007f]/g, '?');
  throw invalidParameter(`Invalid model version source: '${shown}'. ${why}`);
}

/** `models:/<name>/<version|stage|latest>` or `models:/<name>@<alias>` (no further path). */
function registeredRef(first: string, rest: string | undefined): { name: string; ref: { version?: string; stage?: string; alias?: string } } | undefined {
  const at = first.lastIndexOf('@');
  if (at > 0 && rest === undefined) return { name: decodeURIComponent(first.slice(0, at)), ref: { alias: first.slice(at + 1) } };
  if (at === -1 && rest !== undefined && rest !== '' && !rest.includes('/')) {
    const name = decodeURIComponent(first);
    return /^\d+$/.test(rest) ? { name, ref: { version: rest } } : { name, ref: { stage: rest } };
  }
  return undefined;
}

const joinUri = (base: string, path: string) => (path === '' ? base : `${base.replace(/\/+$/, '')}/${path}`);

export async function resolveModelSource(source: unknown, runId: string | undefined, ctx: SourceContext): Promise<ResolvedSource> {
  if (typeof source !== 'string' || source === '') throw invalidParameter('Model version source cannot be empty.');
  const classify = ctx.classify ?? ((uri: string) => classifyArtifactUri(uri));
  const check = (uri: string): ArtifactUriClass => {
    try {
      return classify(uri);
    } catch (e) {
      if (e instanceof FlywheelError) refuse(source, e.message);
      throw e;
    }
  };
  // The raw source itself goes through the decoded-form checks first, whatever its scheme.
  const scheme = SCHEME.exec(source)?.[1].toLowerCase();
  if (scheme === 'runs' || scheme === 'models') check(`mlflow-artifacts:/${source.slice(scheme.length + 1).replace(/^\/+/, '')}`);

  if (scheme === 'runs') {
    const m = /^runs:\/([^/]*)(?:\/(.*))?$/is.exec(source);
    if (!m || !RUN_ID.test(m[1])) refuse(source, "Expected 'runs:/<run_id>/<path>'.");
    const base = await ctx.getRunArtifactUri(m[1]);
    const resolved = joinUri(base, (m[2] ?? '').replace(/\/+$/, ''));
    check(resolved);
    return { artifactUri: resolved, sourceRunId: m[1] };
  }
  if (scheme === 'models') {
    const m = /^models:\/([^/]*)(?:\/(.*))?$/is.exec(source);
    const registered = m && !LOGGED_MODEL_ID.test(m[1]) ? registeredRef(m[1], m[2]) : undefined;
    if (registered && ctx.getRegisteredVersionArtifactUri) {
      // Another registered version: the new version shares its (already validated) files.
      const resolved = await ctx.getRegisteredVersionArtifactUri(registered.name, registered.ref);
      check(resolved);
      return { artifactUri: resolved };
    }
    if (!m || !LOGGED_MODEL_ID.test(m[1])) {
      refuse(source, "Expected 'models:/<model_id>' (a logged model) or 'models:/<name>/<version|stage|latest>' / 'models:/<name>@<alias>'.");
    }
    const base = await ctx.getLoggedModelArtifactUri(m[1]);
    const resolved = joinUri(base, (m[2] ?? '').replace(/\/+$/, ''));
    check(resolved);
    return { artifactUri: resolved, modelId: m[1] };
  }
  if (scheme === undefined) refuse(source, 'Local paths are not accepted; use a runs:/ or mlflow-artifacts:/ URI.');
  if (scheme === 'http' || scheme === 'https') refuse(source, 'http(s) URLs are not accepted.');

  const c = check(source);
  if (c.kind === 'proxy') return { artifactUri: c.uri };
  // Anything else must lie inside the artifact location of the run the version is registered from.
  if (!runId) refuse(source, "A source outside this server's artifact store needs the run_id whose artifacts it lies in.");
  const runBase = await ctx.getRunArtifactUri(runId);
  let base: ArtifactUriClass;
  try {
    base = classify(runBase);
  } catch {
    refuse(source, `The run's artifact location cannot hold model versions.`);
  }
  if (c.kind !== base.kind) refuse(source, `The source is not inside the artifact location of run ${runId}.`);
  const prefix = base.uri.replace(/\/+$/, '');
  const target = c.uri.replace(/\/+$/, '');
  if (target !== prefix && !target.startsWith(`${prefix}/`)) {
    refuse(source, `The source is not inside the artifact location of run ${runId}.`);
  }
  return { artifactUri: c.uri };
}
