/** Listening and closing for the services' HTTP servers. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on host:port; resolves with the URL it serves (the real port when `port` is 0). */
export async function serve(server: Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${shown}:${addr.port}`;
}

/** Stops accepting connections and closes idle ones; resolves when the server has closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
