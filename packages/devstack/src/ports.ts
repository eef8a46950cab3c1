import net from 'node:net';

/** A port the devstack needs, and the variable a user sets to move it. */
export interface PortNeed {
  what: string;
  host: string;
  port: number;
  variable: string;
}

/** Resolve when host:port can be bound; reject with a message naming the port and the variable that moves it. */
export function assertPortFree(need: PortNeed): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') {
        reject(
          new Error(
            `${need.what} needs ${need.host}:${need.port}, but that port is already in use ` +
              `(by another program or an earlier devstack started from another directory). ` +
              `Stop that program, or set ${need.variable} to a free port.`,
          ),
        );
      } else {
        reject(err);
      }
    });
    server.listen({ host: need.host, port: need.port, exclusive: true }, () => server.close(() => resolve()));
  });
}
