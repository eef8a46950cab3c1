import type { Report } from './lib/report';
export async function parts(_o: unknown, _r: Report): Promise<void> {
  throw new Error('not implemented yet');
}
