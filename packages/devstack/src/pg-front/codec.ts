/**
 * The protocol messages the wire front reads and writes. Frontend messages it sends to PGlite
 * (Query, Sync, Close) come from pg-protocol's serializer; the backend messages it answers with are
 * written with pg-protocol's Writer (ErrorResponse with pg-gateway's BackendError); a value inside a
 * response is decoded with pg-protocol's Parser, its messages are split with pg-gateway's
 * getMessages, except in {@link summarize}, which runs on every response.
 */
import { BackendError, BackendMessageCode, getMessages } from 'pg-gateway';
import { serialize } from 'pg-protocol';
import { Writer } from 'pg-protocol/dist/buffer-writer';
import type { BackendMessage, DataRowMessage } from 'pg-protocol/dist/messages';
import { Parser } from 'pg-protocol/dist/parser';

export { BackendMessageCode, FrontendMessageCode } from 'pg-gateway';

export type TxStatus = 'I' | 'T' | 'E';

const dec = new TextDecoder();

export const queryMessage = (sql: string): Uint8Array => serialize.query(sql);
export const syncMessage = (): Uint8Array => serialize.sync();
export const closeStatementMessage = (name: string): Uint8Array => serialize.close({ type: 'S', name });

export const readyForQuery = (status: TxStatus): Uint8Array =>
  new Writer().addString(status).flush(BackendMessageCode.ReadyForQuery);

export const parameterStatus = (name: string, value: string): Uint8Array =>
  new Writer().addCString(name).addCString(value).flush(BackendMessageCode.ParameterStatus);

/** CopyInResponse: the overall format, then no per-column formats (clients do not need them). */
export const copyInResponse = (binary: boolean): Uint8Array =>
  new Writer().add(Buffer.of(binary ? 1 : 0, 0, 0)).flush(BackendMessageCode.CopyIn);

export function errorResponse(severity: 'ERROR' | 'FATAL', code: string, text: string, hint?: string): Uint8Array {
  return BackendError.create({ severity, code, message: text, hint }).flush();
}

/** `data` with the C string at `nameOffset` (a statement name) replaced by `name`. */
export function withName(data: Uint8Array, nameOffset: number, name: string): Uint8Array {
  const nameEnd = cstringEnd(data, nameOffset);
  return new Writer()
    .add(Buffer.from(data.buffer, data.byteOffset + 5, nameOffset - 5))
    .addCString(name)
    .add(Buffer.from(data.buffer, data.byteOffset + nameEnd, data.length - nameEnd))
    .flush(data[0]);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** Offset just past the NUL that ends the C string starting at `offset`. */
export function cstringEnd(data: Uint8Array, offset: number): number {
  const nul = data.indexOf(0, offset);
  if (nul < 0) throw new Error('malformed message: unterminated string');
  return nul + 1;
}

export function readCString(data: Uint8Array, offset: number): string {
  return dec.decode(data.subarray(offset, cstringEnd(data, offset) - 1));
}

export interface ResponseSummary {
  /** Status of the last ReadyForQuery, if the response ends with one. */
  ready?: TxStatus;
  hasError: boolean;
}

/**
 * What the front needs to know of every response: does it end ready (and how), did it fail.
 * Runs on every response, so it reads only each message's type and length, allocating nothing
 * (a large SELECT answers with one DataRow per row).
 */
export function summarize(data: Uint8Array): ResponseSummary {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const summary: ResponseSummary = { hasError: false };
  let last = -1;
  for (let offset = 0; offset + 5 <= data.length; offset += 1 + view.getInt32(offset + 1)) {
    if (data[offset] === BackendMessageCode.ErrorMessage) summary.hasError = true;
    last = offset;
  }
  if (last >= 0 && data[last] === BackendMessageCode.ReadyForQuery)
    summary.ready = String.fromCharCode(data[last + 5]) as TxStatus;
  return summary;
}

/** The first column of the first row of a response to a simple query; undefined if it failed or has no row. */
export function firstValue(data: Uint8Array): string | null | undefined {
  const messages: BackendMessage[] = [];
  new Parser().parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength), (m) => messages.push(m));
  if (messages.some((m) => m.name === 'error')) return undefined;
  const row = messages.find((m): m is DataRowMessage => m.name === 'dataRow');
  return row && row.fieldCount > 0 ? (row.fields[0] as string | null) : undefined;
}

/** The ErrorResponse messages of a response (to pass on), without the rest. */
export function errorMessagesOf(data: Uint8Array): Uint8Array[] {
  return [...getMessages(data)].filter((m) => m[0] === BackendMessageCode.ErrorMessage).map((m) => m.slice());
}

/** The message types of a response, for the trace log (`Z` carries its status). */
export function messageTypes(data: Uint8Array): string {
  const types = [...getMessages(data)].map((m) =>
    m[0] === BackendMessageCode.ReadyForQuery ? `Z${String.fromCharCode(m[5])}` : String.fromCharCode(m[0]),
  );
  return types.length > 12
    ? `${types.slice(0, 6).join('')}...(${types.length})...${types.slice(-4).join('')}`
    : types.join('');
}

export function traceText(data: Uint8Array): string {
  return JSON.stringify(dec.decode(data.subarray(5, Math.min(data.length, 85))));
}

/**
 * A response that pg-gateway treats as handled but that writes nothing: it counts a message as
 * handled when the returned iterable yields something or *returns* a value other than undefined.
 */
// eslint-disable-next-line require-yield -- yields nothing by design (see above)
export function* nothing(): Generator<Uint8Array, null> {
  return null;
}

/** An error answered with `response` (already encoded); the connection closes after it. */
export class FrontError extends Error {
  constructor(
    readonly response: Uint8Array,
    message: string,
  ) {
    super(message);
  }
}
