import net from 'node:net';
import { Counter } from 'prom-client';
import { createLogger } from '../../src/logger';
import { createRegistry } from '../../src/metrics';
import { startServiceHttp } from '../../src/http';

const logger = createLogger('test', 'silent');

describe('startServiceHttp', () => {
  it('serves /healthz, /readyz (following ready()) and /metrics, plus extra routes', async () => {
    const registry = createRegistry('http-test');
    new Counter({ name: 'test_things_total', help: 'things', registers: [registry] }).inc(3);
    let ready = false;
    const http = await startServiceHttp({
      port: 0,
      portVariable: 'TEST_HTTP_PORT',
      host: '127.0.0.1',
      registry,
      ready: () => ready,
      routes: (app) => app.get('/hello', (_req, res) => void res.json({ hi: true })),
      logger,
    });
    const base = `http://127.0.0.1:${http.port}`;
    try {
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });

      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      ready = true;
      const readyz = await fetch(`${base}/readyz`);
      expect(readyz.status).toBe(200);
      expect(await readyz.json()).toEqual({ status: 'ready' });

      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
      const text = await metrics.text();
      expect(text).toContain('test_things_total{service="http-test"} 3');
      expect(text).toContain('process_cpu_seconds_total{service="http-test"}');

      expect(await (await fetch(`${base}/hello`)).json()).toEqual({ hi: true });
    } finally {
      await http.close();
    }
  });

  it('answers 503 on /readyz when ready() throws or rejects', async () => {
    const http = await startServiceHttp({
      port: 0,
      portVariable: 'TEST_HTTP_PORT',
      host: '127.0.0.1',
      registry: createRegistry('http-test'),
      ready: async () => {
        throw new Error('database down');
      },
      logger,
    });
    try {
      expect((await fetch(`http://127.0.0.1:${http.port}/readyz`)).status).toBe(503);
    } finally {
      await http.close();
    }
  });

  it('rejects with the port and the variable that moves it when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(
        startServiceHttp({
          port,
          portVariable: 'SCHEDULER_HTTP_PORT',
          host: '127.0.0.1',
          registry: createRegistry('http-test'),
          ready: () => true,
          logger,
        }),
      ).rejects.toThrow(`port ${port} is already in use; set SCHEDULER_HTTP_PORT to a free port`);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
