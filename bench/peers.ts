import type { Report } from './lib/report';
export async function peers(_o: unknown, _r: Report): Promise<void> {
  throw new Error('not implemented yet');
}
