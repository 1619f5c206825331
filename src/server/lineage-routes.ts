import type { FastifyInstance } from 'fastify';
import { modelPipelineLineage } from '../pipelines/model-lineage.js';
import type { PipelineQueries } from '../pipelines/pipeline-queries.js';
import type { RegistryService } from '../registry/index.js';
import type { TrackingService } from '../tracking/index.js';

/**
 * `GET /api/v1/model-versions/:name/:version/pipeline-lineage`: the registry's lineage of a model version
 * (source, run, datasets) plus, when it was registered from a pipeline step, the pipeline chain behind it:
 * the registering and producing step runs, the pipeline run, and the artifact versions back to the input data.
 */
export function lineageRoutes(app: FastifyInstance, ctx: { registry?: RegistryService; pipelines?: PipelineQueries; tracking: TrackingService }): void {
  const { registry, pipelines } = ctx;
  if (!registry || !pipelines) return;
  app.get('/api/v1/model-versions/:name/:version/pipeline-lineage', async (req, reply) => {
    const { name, version } = req.params as { name: string; version: string };
    const lineage = await registry.lineage(name, version);
    const pipeline = await modelPipelineLineage({ tracking: ctx.tracking, queries: pipelines }, lineage);
    return reply.type('application/json').send(JSON.stringify({ lineage, pipeline }));
  });
}
