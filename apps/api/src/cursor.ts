/**
 * Opaque pagination cursors: base64url of `{"k": kind, "v": [...]}`. A cursor names the list it
 * belongs to, so one from another list (or a hand-edited one) is refused with a 400 instead of
 * giving a wrong page.
 */
import { z } from 'zod';

export type CursorKind = 'followers' | 'growth' | 'suspicious';

export function encodeCursor(kind: CursorKind, values: readonly (number | string)[]): string {
  return Buffer.from(JSON.stringify({ k: kind, v: values })).toString('base64url');
}

const cursorShape = z.object({ k: z.string(), v: z.array(z.union([z.number(), z.string()])) });

/** The cursor's values, or a message saying why it is not one of `kind`'s cursors. */
export function decodeCursor(
  kind: CursorKind,
  cursor: string,
): { ok: true; values: (number | string)[] } | { ok: false; message: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const result = cursorShape.safeParse(parsed);
  if (!result.success || result.data.k !== kind) {
    return {
      ok: false,
      message: `cursor is not a cursor of this list (${kind}); pass the nextCursor of the previous page, or leave it out for the first page`,
    };
  }
  return { ok: true, values: result.data.v };
}
