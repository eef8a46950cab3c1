import http from 'node:http';
import net from 'node:net';
import { freePort, startMain } from '@mockstagram/testkit';

async function waitFor(check: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('main', () => {
  test('serves on MOCK_API_PORT and exits 0 on SIGTERM, even with a hung request open', async () => {
    const port = await freePort();
    const proc = startMain('mock-api', { MOCK_API_PORT: String(port), MOCK_API_HANG_RATE: '1' });
    try {
      await waitFor(() => proc.output().includes('mock-api listening'));
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      await ready.text();
      const hung = fetch(`http://127.0.0.1:${port}/api/v1/influencers/1234567`).catch(() => 'dropped');
      await new Promise((r) => setTimeout(r, 100));
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(await hung).toBe('dropped');
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  test('a taken port is an error naming the port and MOCK_API_PORT', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, r));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const proc = startMain('mock-api', { MOCK_API_PORT: String(port) });
      expect(await proc.exited).toBe(1);
      expect(proc.output()).toContain(`port ${port} is already in use; set MOCK_API_PORT to a free port`);
    } finally {
      blocker.close();
    }
  });

  test('tracing: a request from a sampled trace gets a SERVER span, exported over OTLP/HTTP (protobuf) by the shutdown step', async () => {
    const posts: Array<{ path: string; type: string; body: Buffer }> = [];
    const collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        posts.push({ path: req.url ?? '', type: String(req.headers['content-type']), body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(collector.address() as net.AddressInfo).port}`;
    const port = await freePort();
    const proc = startMain('mock-api', {
      MOCK_API_PORT: String(port),
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      DEPLOYMENT_ENVIRONMENT: 'main-test',
    });
    try {
      await waitFor(() => proc.output().includes('mock-api listening'));
      expect(proc.output()).toContain(`tracing on; exporting spans to ${endpoint}/v1/traces`);
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/influencers/1234567`, {
        headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      });
      expect(res.status).toBe(200);
      await res.text();
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(proc.output()).toContain('shutdown: telemetry (export the last spans) done');
      const traces = posts.filter((p) => p.path === '/v1/traces');
      expect(traces.length).toBeGreaterThan(0);
      expect(traces[0].type).toBe('application/x-protobuf');
      const body = Buffer.concat(traces.map((p) => p.body));
      expect(body.includes(Buffer.from(traceId, 'hex'))).toBe(true); // the span continues the caller's trace
      for (const text of ['mock-api', 'GET /api/v1/influencers/:id', 'main-test', 'service.version'])
        expect(body.includes(text)).toBe(true);
    } finally {
      proc.child.kill('SIGKILL');
      collector.close();
    }
  });

  test('tracing: an OTLP endpoint that refuses connections does not hold up the shutdown', async () => {
    const port = await freePort();
    const closed = await freePort();
    const proc = startMain('mock-api', {
      MOCK_API_PORT: String(port),
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`,
    });
    try {
      await waitFor(() => proc.output().includes('mock-api listening'));
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/influencers/1234567`, {
        headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      });
      await res.text();
      const t0 = Date.now();
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  test('tracing: a bad sampler ratio is named', async () => {
    const proc = startMain('mock-api', { MOCK_API_PORT: '0', OTEL_TRACES_SAMPLER_ARG: '2' });
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain('OTEL_TRACES_SAMPLER_ARG="2": expected a number between 0 and 1');
  });

  test('a bad variable is named, with what it expects', async () => {
    const proc = startMain('mock-api', { MOCK_API_PORT: '0', MOCK_API_ERROR_RATE: '3' });
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain('MOCK_API_ERROR_RATE="3": expected a number between 0 and 1');
  });
});
