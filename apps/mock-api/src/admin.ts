import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Faults } from './faults';

/** Largest admin request body accepted. */
const MAX_BODY_BYTES = 64 * 1024;

export interface AdminLogger {
  info(obj: object, msg: string): void;
}

/**
 * `/admin/faults`:
 * - `GET`    current fault settings
 * - `PUT`    partial update, JSON body, e.g. `{"errorRate": 0.1}`; 400 naming the bad field
 * - `DELETE` back to the settings the environment gave at start
 * Each answers 200 with the settings now in force.
 */
export function handleAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  faults: Faults,
  logger?: AdminLogger,
): void {
  if (path !== '/admin/faults') {
    sendJson(res, 404, { error: 'not_found', message: `no admin route ${path}; try /admin/faults` });
    return;
  }
  switch (req.method) {
    case 'GET':
      sendJson(res, 200, faults.get());
      return;
    case 'DELETE': {
      const settings = faults.reset();
      logger?.info({ faults: settings }, 'fault settings reset to the environment defaults');
      sendJson(res, 200, settings);
      return;
    }
    case 'PUT':
      readJsonBody(req, (error, body) => {
        if (error) {
          sendJson(res, error.status, { error: 'bad_request', message: error.message });
          return;
        }
        const result = faults.update(body);
        if (!result.ok) {
          sendJson(res, 400, { error: 'invalid_faults', message: result.message });
          return;
        }
        logger?.info({ faults: result.settings }, 'fault settings changed');
        sendJson(res, 200, result.settings);
      });
      return;
    default:
      res.setHeader('allow', 'GET, PUT, DELETE');
      sendJson(res, 405, {
        error: 'method_not_allowed',
        message: `${req.method} is not allowed on ${path}; use GET, PUT or DELETE`,
      });
  }
}

function readJsonBody(
  req: IncomingMessage,
  done: (error: { status: number; message: string } | undefined, body?: unknown) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (error: { status: number; message: string } | undefined, body?: unknown) => {
    if (finished) return;
    finished = true;
    done(error, body);
  };
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      finish({ status: 413, message: `body larger than ${MAX_BODY_BYTES} bytes` });
      req.resume();
      return;
    }
    if (!finished) chunks.push(chunk);
  });
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      finish(undefined, JSON.parse(text));
    } catch {
      finish({ status: 400, message: 'body must be a JSON object, e.g. {"errorRate": 0.1}' });
    }
  });
  req.on('error', (err) => finish({ status: 400, message: err.message }));
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
