/**
 * A small JSON-with-comments reader that keeps the offsets of every value, so
 * `tapwatch wrap` can change a config file by splicing text: only the values
 * it rewrites change, and comments, key order, indentation, line endings and
 * everything else stay byte for byte. VS Code's `mcp.json` is JSONC (`//` and
 * `/* *\/` comments, trailing commas); Claude Desktop and Cursor read plain
 * JSON, which is a subset.
 */
import { WrapError } from './errors.js';

export type JsonNode = ObjectNode | ArrayNode | ScalarNode;

interface Span {
  /** Offset of the first character of the value. */
  start: number;
  /** Offset just past its last character. */
  end: number;
}
export interface ObjectNode extends Span {
  type: 'object';
  props: PropNode[];
}
export interface PropNode {
  key: string;
  keyStart: number;
  value: JsonNode;
}
export interface ArrayNode extends Span {
  type: 'array';
  items: JsonNode[];
}
export interface ScalarNode extends Span {
  type: 'string' | 'number' | 'literal';
  value: string | number | boolean | null;
}

/** Parses JSONC text; a syntax error becomes a `TAPWATCH_WRAP_BAD_JSON` error naming line and column. */
export function parseJsonc(text: string, file: string): JsonNode {
  const p = new Parser(text, file);
  p.skip();
  const node = p.value();
  p.skip();
  if (p.pos < text.length) p.fail('unexpected text after the JSON value');
  return node;
}

/** The property `key` of an object node. */
export function prop(node: JsonNode | undefined, key: string): PropNode | undefined {
  if (node?.type !== 'object') return undefined;
  // JSON allows repeated keys; like JSON.parse, the last one wins.
  for (let i = node.props.length - 1; i >= 0; i--) if (node.props[i]!.key === key) return node.props[i];
  return undefined;
}

/** The plain value of a node (as JSON.parse would give it). */
export function plain(node: JsonNode): unknown {
  switch (node.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const p of node.props) out[p.key] = plain(p.value);
      return out;
    }
    case 'array':
      return node.items.map(plain);
    default:
      return node.value;
  }
}

/** A string array's values, or undefined when the node is not an array of strings. */
export function stringArray(node: JsonNode | undefined): string[] | undefined {
  if (node?.type !== 'array') return undefined;
  const out: string[] = [];
  for (const item of node.items) {
    if (item.type !== 'string' || typeof item.value !== 'string') return undefined;
    out.push(item.value);
  }
  return out;
}

export interface Edit {
  start: number;
  end: number;
  text: string;
}

/** Applies non-overlapping edits. */
export function applyEdits(text: string, edits: Edit[]): string {
  const sorted = [...edits].sort((a, b) => b.start - a.start);
  let out = text;
  let limit = Infinity;
  for (const e of sorted) {
    if (e.end > limit) throw new Error('overlapping edits');
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
    limit = e.start;
  }
  return out;
}

/** The whitespace that starts the line holding `offset`. */
export function lineIndent(text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(lineStart))![0];
}

/** The file's line ending: CRLF when its first line break is one. */
export function eol(text: string): string {
  const i = text.indexOf('\n');
  return i > 0 && text[i - 1] === '\r' ? '\r\n' : '\n';
}

/** One indentation step as the file uses it (two spaces when nothing tells). */
export function indentUnit(text: string): string {
  const m = /\n([ \t]+)\S/.exec(text);
  if (!m) return '  ';
  return m[1]!.startsWith('\t') ? '\t' : m[1]!;
}

/**
 * Serializes a string array in the style of the array it replaces: on one line
 * when that one was, else one item a line at the indentation its items had.
 */
export function formatStringArray(values: string[], text: string, like: JsonNode | undefined, propIndent: string): string {
  const items = values.map((v) => JSON.stringify(v));
  const multiline = like !== undefined && text.slice(like.start, like.end).includes('\n');
  if (!multiline || items.length === 0) return `[${items.join(', ')}]`;
  const nl = eol(text);
  const first = like.type === 'array' ? like.items[0] : undefined;
  const itemIndent = first ? lineIndent(text, first.start) : propIndent + indentUnit(text);
  return `[${nl}${items.map((i) => itemIndent + i).join(`,${nl}`)}${nl}${propIndent}]`;
}

class Parser {
  pos = 0;
  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  fail(what: string): never {
    const before = this.text.slice(0, this.pos);
    const line = before.split('\n').length;
    const column = this.pos - before.lastIndexOf('\n');
    throw new WrapError('TAPWATCH_WRAP_BAD_JSON', `${this.file} is not valid JSON: ${what} at line ${line}, column ${column}`);
  }

  /** Skips whitespace, comments and a leading byte-order mark. */
  skip(): void {
    const t = this.text;
    for (;;) {
      const c = t[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\uFEFF') this.pos++;
      else if (c === '/' && t[this.pos + 1] === '/') {
        const nl = t.indexOf('\n', this.pos);
        this.pos = nl < 0 ? t.length : nl;
      } else if (c === '/' && t[this.pos + 1] === '*') {
        const close = t.indexOf('*/', this.pos + 2);
        if (close < 0) this.fail('unterminated comment');
        this.pos = close + 2;
      } else return;
    }
  }

  value(): JsonNode {
    const c = this.text[this.pos];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    const start = this.pos;
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(this.text.slice(start, start + 400));
    if (!m) this.fail(c === undefined ? 'unexpected end of file' : `unexpected character ${JSON.stringify(c)}`);
    this.pos += m[0].length;
    const raw = m[0];
    const value = raw === 'true' ? true : raw === 'false' ? false : raw === 'null' ? null : Number(raw);
    return { type: typeof value === 'number' ? 'number' : 'literal', start, end: this.pos, value };
  }

  string(): ScalarNode {
    const start = this.pos;
    const t = this.text;
    let i = start + 1;
    for (;;) {
      const c = t[i];
      if (c === undefined || c === '\n') {
        this.pos = i;
        this.fail('unterminated string');
      }
      if (c === '\\') i += 2;
      else if (c === '"') break;
      else i++;
    }
    this.pos = i + 1;
    let value: string;
    try {
      value = JSON.parse(t.slice(start, this.pos)) as string;
    } catch {
      this.pos = start;
      this.fail('bad string');
    }
    return { type: 'string', start, end: this.pos, value };
  }

  object(): ObjectNode {
    const start = this.pos++;
    const props: PropNode[] = [];
    for (;;) {
      this.skip();
      if (this.text[this.pos] === '}') break;
      if (this.text[this.pos] !== '"') this.fail('expected a property name');
      const keyStart = this.pos;
      const key = this.string().value as string;
      this.skip();
      if (this.text[this.pos] !== ':') this.fail("expected ':'");
      this.pos++;
      this.skip();
      props.push({ key, keyStart, value: this.value() });
      this.skip();
      if (this.text[this.pos] === ',') {
        this.pos++;
        continue;
      }
      if (this.text[this.pos] !== '}') this.fail("expected ',' or '}'");
      break;
    }
    this.pos++;
    return { type: 'object', start, end: this.pos, props };
  }

  array(): ArrayNode {
    const start = this.pos++;
    const items: JsonNode[] = [];
    for (;;) {
      this.skip();
      if (this.text[this.pos] === ']') break;
      items.push(this.value());
      this.skip();
      if (this.text[this.pos] === ',') {
        this.pos++;
        continue;
      }
      if (this.text[this.pos] !== ']') this.fail("expected ',' or ']'");
      break;
    }
    this.pos++;
    return { type: 'array', start, end: this.pos, items };
  }
}
