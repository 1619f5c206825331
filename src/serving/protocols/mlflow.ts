/** MLflow's scoring protocol: `/invocations` (JSON formats and CSV), `/ping`, `/health`, `/version`. */
import type { FastifyInstance } from 'fastify';
import { FLYWHEEL_VERSION } from '../../models/index.js';
import { parseCsv } from '../csv.js';
import { mlflowRequestData, prepareInputFast, type RequestData } from '../input.js';
import type { ScoringContext } from '../scoring.js';

/** A text/csv body, parsed by the content-type parser. */
export class CsvBody {
  constructor(readonly data: Extract<RequestData, { form: 'csv' }>) {}
}

export function parseCsvBody(text: string): CsvBody {
  return new CsvBody({ form: 'csv', ...parseCsv(text) });
}

export function mlflowRoutes(app: FastifyInstance, ctx: ScoringContext): void {
  const ping = async (_req: unknown, reply: import('fastify').FastifyReply) => reply.type('application/json').send('\n');
  app.get('/ping', ping);
  app.get('/health', ping);
  app.get('/version', async (_req, reply) => reply.type('text/plain; charset=utf-8').send(FLYWHEEL_VERSION));

  app.post('/invocations', async (req, reply) => {
    const data = req.body instanceof CsvBody ? req.body.data : mlflowRequestData(req.body).data;
    const body = await ctx.score(
      req,
      reply,
      'mlflow',
      (model) => prepareInputFast(model.layout, data),
      (_model, result) => JSON.stringify({ predictions: result.predictions() }),
    );
    return reply.type('application/json').send(body);
  });
}
