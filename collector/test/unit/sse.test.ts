/**
 * The incremental SSE parser of the HTTP tap: the standard's rules on
 * examples, and the same events whatever the chunking (fast-check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SseParser, type SseEvent } from '@tapwatch/collector';

function parseAll(input: Buffer | string, cuts: number[] = []): { events: SseEvent[]; parser: SseParser } {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input, 'utf8');
  const parser = new SseParser();
  const events: SseEvent[] = [];
  let start = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < buf.length)].sort((a, b) => a - b)) {
    events.push(...parser.push(buf.subarray(start, cut)));
    start = cut;
  }
  events.push(...parser.push(buf.subarray(start)));
  events.push(...parser.end());
  return { events, parser };
}

const plain = (events: SseEvent[]) =>
  events.map(({ type, data, id, retry }) => ({ type, data, ...(id !== undefined ? { id } : {}), ...(retry !== undefined ? { retry } : {}) }));

test('a priming event (id, retry, empty data) is dispatched with data ""; multi-line data joins with LF', () => {
  const stream = 'id: e-1\nretry: 500\ndata: \n\nevent: message\nid: e-2\ndata: {"a":\ndata:  1}\n\n';
  const { events } = parseAll(stream);
  assert.deepEqual(plain(events), [
    { type: 'message', data: '', id: 'e-1', retry: 500 },
    { type: 'message', data: '{"a":\n 1}', id: 'e-2' },
  ]);
  assert.deepEqual(JSON.parse(events[1]!.data), { a: 1 });
});

test('comments are counted, not dispatched; a block without data is not an event but its id persists', () => {
  const { events, parser } = parseAll(': keep-alive\n\nid: 7\n\n:x\ndata: one\n\n');
  assert.deepEqual(plain(events), [{ type: 'message', data: 'one' }]);
  assert.equal(events[0]!.lastEventId, '7');
  assert.equal(parser.comments, 2);
});

test('CRLF, CR and LF all end lines, also when a CRLF is split between chunks', () => {
  const stream = 'event: endpoint\r\ndata: /message?sessionId=1\r\n\r\ndata: a\rdata: b\r\rdata: c\n\n';
  const expected = [
    { type: 'endpoint', data: '/message?sessionId=1' },
    { type: 'message', data: 'a\nb' },
    { type: 'message', data: 'c' },
  ];
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(plain(parseAll(stream, [cut]).events), expected, `cut at ${cut}`);
  }
});

test('field rules: no space after the colon, a field without a colon, unknown fields, a bad retry, an id with NUL, a BOM', () => {
  const { events } = parseAll('\uFEFFdata:x\nfoo: bar\nretry: 12a\nid: a\0b\ndata\n\n');
  assert.deepEqual(plain(events), [{ type: 'message', data: 'x\n' }]);
  assert.equal(events[0]!.lastEventId, '');
});

test('an unterminated last block is discarded at end of stream', () => {
  assert.deepEqual(plain(parseAll('data: done\n\ndata: half').events), [{ type: 'message', data: 'done' }]);
});

test('offsets: each event knows the bytes of its block, so the raw stream can be rewritten in place', () => {
  const stream = Buffer.from(': hi\n\nevent: endpoint\ndata: http://h/é\n\ndata: 1\n\n');
  const { events } = parseAll(stream, [3, 20, 31]);
  const endpoint = events[0]!;
  assert.equal(stream.subarray(endpoint.start, endpoint.end).toString(), 'event: endpoint\ndata: http://h/é\n\n');
  assert.equal(stream.subarray(events[1]!.start, events[1]!.end).toString(), 'data: 1\n\n');
  assert.equal(events[1]!.end, stream.length);
});

test('an event larger than maxEventBytes is skipped and counted; the next one is parsed', () => {
  const parser = new SseParser({ maxEventBytes: 64 });
  const events = [...parser.push(Buffer.from(`data: ${'x'.repeat(40)}\n`)), ...parser.push(Buffer.from(`data: ${'y'.repeat(40)}\n\ndata: small\n\n`))];
  assert.deepEqual(plain(events), [{ type: 'message', data: 'small' }]);
  assert.equal(parser.oversized, 1);
});

interface ModelEvent {
  type: string | undefined;
  id: string | undefined;
  retry: number | undefined;
  data: string[];
  comment: string | undefined;
}

const lineText = fc.string({ unit: 'binary', maxLength: 30 }).filter((s) => !/[\r\n]/.test(s));
const fieldText = lineText.filter((s) => !s.includes('\0') && !s.startsWith(' '));
const modelEvent: fc.Arbitrary<ModelEvent> = fc.record({
  type: fc.option(
    fieldText.filter((s) => s.length > 0),
    { nil: undefined },
  ),
  id: fc.option(fieldText, { nil: undefined }),
  retry: fc.option(fc.nat({ max: 100_000 }), { nil: undefined }),
  data: fc.array(lineText, { minLength: 1, maxLength: 4 }),
  comment: fc.option(lineText, { nil: undefined }),
});

test('property: any events, any line endings, any chunking (even inside UTF-8 characters) give the same events', () => {
  fc.assert(
    fc.property(
      fc.array(modelEvent, { maxLength: 8 }),
      fc.array(fc.constantFrom('\n', '\r\n', '\r'), { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat({ max: 2000 }), { maxLength: 12 }),
      (model, eols, cuts) => {
        let k = 0;
        let previous = '';
        // A CR then a LF would read as one CRLF: after a CR, a LF terminator is written as CRLF.
        const eol = () => {
          let e = eols[k++ % eols.length]!;
          if (previous === '\r' && e === '\n') e = '\r\n';
          previous = e;
          return e;
        };
        let text = '';
        for (const ev of model) {
          if (ev.comment !== undefined) text += `:${ev.comment}${eol()}`;
          if (ev.type !== undefined) text += `event: ${ev.type}${eol()}`;
          if (ev.id !== undefined) text += `id: ${ev.id}${eol()}`;
          if (ev.retry !== undefined) text += `retry: ${ev.retry}${eol()}`;
          for (const d of ev.data) text += `data: ${d}${eol()}`;
          text += eol();
        }
        const buf = Buffer.from(text, 'utf8');
        const whole = parseAll(buf).events;
        const chunked = parseAll(
          buf,
          cuts.map((c) => c % (buf.length + 1)),
        ).events;
        // Same events and offsets, except that a CRLF split between chunks ends a block at its CR.
        assert.deepEqual(
          chunked.map((e) => ({ ...e, end: 0 })),
          whole.map((e) => ({ ...e, end: 0 })),
        );
        chunked.forEach((e, i) => assert.ok(e.end === whole[i]!.end || (e.end === whole[i]!.end - 1 && buf[e.end] === 0x0a)));
        assert.deepEqual(
          plain(whole),
          model.map((ev) => ({
            type: ev.type ?? 'message',
            data: ev.data.join('\n'),
            ...(ev.id !== undefined ? { id: ev.id } : {}),
            ...(ev.retry !== undefined ? { retry: ev.retry } : {}),
          })),
        );
        // The blocks tile the stream: each event's bytes re-parse to that event alone.
        for (const ev of whole)
          assert.deepEqual(
            plain(parseAll(buf.subarray(ev.start, ev.end)).events),
            plain([ev]).map((e) => ({ ...e, ...(ev.id === undefined ? {} : { id: ev.id }) })),
          );
      },
    ),
    { numRuns: 300 },
  );
});
