/**
 * The message shapes the services and tests use, independent of the Kafka client library.
 *
 * @module
 */

/** Message headers: one value per name (a repeated header gives an array); consumed values are Buffers. */
export type MessageHeaders = Record<string, Buffer | string | Array<Buffer | string> | undefined>;

/** A message to produce. */
export interface Message {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: MessageHeaders;
  /** Target partition; default: the Java client's murmur2 partitioner over the key. */
  partition?: number;
}

/** Messages for one topic. */
export interface TopicMessages {
  topic: string;
  messages: Message[];
}

/** A consumed message. */
export interface ConsumedMessage {
  topic: string;
  partition: number;
  /** The offset as a decimal string (Kafka offsets are 64-bit). */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: MessageHeaders;
  /** Producer or broker timestamp, ms since the epoch. */
  timestamp: number;
}

/** Buffer, string or nothing → what the client library writes (undefined for no key / value). */
export function toBuffer(data: Buffer | string | null | undefined): Buffer | undefined {
  if (data === null || data === undefined) return undefined;
  return typeof data === 'string' ? Buffer.from(data) : data;
}

/**
 * Header names as Buffers, made once per name: the services use a handful (`traceparent`,
 * `x-dlq-*`), on every message. The client only reads them. Bounded, so arbitrary names cannot grow it.
 */
const headerNames = new Map<string, Buffer>();
const HEADER_NAMES_KEPT = 256;

function headerName(name: string): Buffer {
  let buffer = headerNames.get(name);
  if (buffer === undefined) {
    buffer = Buffer.from(name);
    if (headerNames.size < HEADER_NAMES_KEPT) headerNames.set(name, buffer);
  }
  return buffer;
}

/** Our headers → the client library's (name → Buffer; arrays keep their first value). */
export function toHeaderMap(headers: MessageHeaders | undefined): Map<Buffer, Buffer> | undefined {
  if (headers === undefined) return undefined;
  let out: Map<Buffer, Buffer> | undefined;
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    const first = Array.isArray(value) ? value[0] : value;
    if (first === undefined) continue;
    (out ??= new Map()).set(headerName(name), toBuffer(first)!);
  }
  return out;
}

/** The client library's consumed headers → ours (a repeated name keeps its values in an array). */
export function fromHeaderMap(headers: Map<Buffer, Buffer> | undefined): MessageHeaders {
  const out: MessageHeaders = {};
  if (headers === undefined) return out;
  for (const [name, value] of headers) {
    const key = name.toString();
    const previous = out[key];
    if (previous === undefined) out[key] = value;
    else out[key] = Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  return out;
}
