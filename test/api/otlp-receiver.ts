/**
 * A real OTLP/HTTP receiver on 127.0.0.1, port 0: it takes `POST /v1/traces` as the OTLP
 * exporter sends it (protobuf, `ExportTraceServiceRequest`), decodes the spans and answers as
 * a collector does. The decoder reads only the fields the tests look at, by their numbers in
 * opentelemetry-proto's trace.proto and common.proto.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitForEvent } from '../helpers.js';

/** A span as the receiver decoded it. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** 2 server, 3 client (SpanKind of trace.proto). */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  /** The attributes of the resource that sent it (service.name, ...). */
  resource: Record<string, string | number | boolean>;
  /** The spans it links to (Span.links). */
  links: Array<{ traceId: string; spanId: string }>;
}

/** A running OTLP receiver. */
export interface OtlpReceiver {
  /** For `OTEL_EXPORTER_OTLP_ENDPOINT`: the exporter posts to `{url}/v1/traces`. */
  url: string;
  spans: ReceivedSpan[];
  /** Export requests received (any path). */
  requests: number;
  /** Resolves with the spans once `predicate` holds for them (an event, not a poll). */
  until(predicate: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

interface Field {
  field: number;
  wire: number;
  /** A varint or fixed64 as a bigint, a length-delimited field as its bytes, a fixed32 as a number. */
  value: bigint | Buffer | number;
}

/** The fields of one protobuf message, in order. */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[at++];
      if (byte === undefined) throw new Error('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1) {
      out.push({ field, wire, value: buf.readBigUInt64LE(at) });
      at += 8;
    } else if (wire === 2) {
      const length = Number(varint());
      out.push({ field, wire, value: buf.subarray(at, at + length) });
      at += length;
    } else if (wire === 5) {
      out.push({ field, wire, value: buf.readUInt32LE(at) });
      at += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const bytesOf = (fs: Field[], n: number): Buffer[] =>
  fs.filter((f) => f.field === n && f.wire === 2).map((f) => f.value as Buffer);
const first = (fs: Field[], n: number): Field | undefined => fs.find((f) => f.field === n);

/** An AnyValue: string (1), bool (2), int (3) or double (4). */
function anyValue(buf: Buffer): string | number | boolean {
  const f = fields(buf)[0];
  if (!f) return '';
  if (f.field === 1) return (f.value as Buffer).toString('utf8');
  if (f.field === 2) return f.value === 1n;
  if (f.field === 3) return Number(BigInt.asIntN(64, f.value as bigint));
  if (f.field === 4) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(f.value as bigint);
    return b.readDoubleLE(0);
  }
  return `(field ${f.field})`;
}

/** Repeated KeyValue (key 1, value 2) as a record. */
function attributes(list: Buffer[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list) {
    const fs = fields(kv);
    const key = bytesOf(fs, 1)[0]?.toString('utf8') ?? '';
    const value = bytesOf(fs, 2)[0];
    out[key] = value ? anyValue(value) : '';
  }
  return out;
}

/** The spans of an `ExportTraceServiceRequest`. */
export function decodeExport(body: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of bytesOf(fields(body), 1)) {
    const rsFields = fields(rs);
    const resourceBuf = bytesOf(rsFields, 1)[0];
    const resource = resourceBuf ? attributes(bytesOf(fields(resourceBuf), 1)) : {};
    for (const ss of bytesOf(rsFields, 2)) {
      for (const span of bytesOf(fields(ss), 2)) {
        const fs = fields(span);
        const status = bytesOf(fs, 15)[0];
        const code = status ? first(fields(status), 3) : undefined;
        spans.push({
          traceId: bytesOf(fs, 1)[0]?.toString('hex') ?? '',
          spanId: bytesOf(fs, 2)[0]?.toString('hex') ?? '',
          parentSpanId: bytesOf(fs, 4)[0]?.toString('hex') ?? '',
          name: bytesOf(fs, 5)[0]?.toString('utf8') ?? '',
          kind: Number(first(fs, 6)?.value ?? 0),
          attributes: attributes(bytesOf(fs, 9)),
          statusCode: Number(code?.value ?? 0),
          resource,
          // Span.Link: trace_id 1, span_id 2.
          links: bytesOf(fs, 13).map((link) => {
            const lf = fields(link);
            return {
              traceId: bytesOf(lf, 1)[0]?.toString('hex') ?? '',
              spanId: bytesOf(lf, 2)[0]?.toString('hex') ?? '',
            };
          }),
        });
      }
    }
  }
  return spans;
}

/** Starts an OTLP receiver on 127.0.0.1, port 0. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const events = new EventEmitter();
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      spans.push(...decodeExport(Buffer.concat(chunks)));
      // An empty ExportTraceServiceResponse: everything accepted.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      events.emit('spans', spans);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    get requests() {
      return requests;
    },
    until: async (predicate) => {
      if (!predicate(spans)) await waitForEvent<ReceivedSpan[]>(events, 'spans', predicate);
      return spans;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
