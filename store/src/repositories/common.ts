/**
 * What the repositories share: a WHERE builder whose values are all query
 * parameters, cell readers, and versions for state rows.
 */
import { fromChTime, toChTime } from '../rows.js';

export const TIME_PARAM = (name: string) => `parseDateTime64BestEffort({${name}:String}, 3, 'UTC')`;

/** Builds a WHERE clause from fixed conditions whose values are all parameters. */
export class Where {
  readonly parts: string[] = [];
  readonly params: Record<string, unknown> = {};
  eq(column: string, name: string, value: string | undefined): this {
    if (value !== undefined) {
      this.parts.push(`${column} = {${name}:String}`);
      this.params[name] = value;
    }
    return this;
  }
  since(column: string, value: string | undefined): this {
    if (value !== undefined) {
      this.parts.push(`${column} >= ${TIME_PARAM('from')}`);
      this.params['from'] = toChTime(value);
    }
    return this;
  }
  until(column: string, value: string | undefined): this {
    if (value !== undefined) {
      this.parts.push(`${column} < ${TIME_PARAM('to')}`);
      this.params['to'] = toChTime(value);
    }
    return this;
  }
  before(timeColumn: string, idColumn: string, cursor: { time: string; id: string } | undefined): this {
    if (cursor) {
      this.parts.push(`(${timeColumn}, ${idColumn}) < (${TIME_PARAM('cursorTime')}, {cursorId:String})`);
      this.params['cursorTime'] = toChTime(cursor.time);
      this.params['cursorId'] = cursor.id;
    }
    return this;
  }
  raw(condition: string, params: Record<string, unknown> = {}): this {
    this.parts.push(condition);
    Object.assign(this.params, params);
    return this;
  }
  toString(): string {
    return this.parts.length > 0 ? `WHERE ${this.parts.join(' AND ')}` : '';
  }
}

export const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
export const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
export const iso = (v: unknown): string => fromChTime(str(v));

export function round(n: number): number {
  return Number.isFinite(n) ? Math.round(n * 100) / 100 : 0;
}

let lastVersion = 0;
/** A strictly increasing version for state rows written by this process (microseconds since the epoch). */
export function nextVersion(): number {
  lastVersion = Math.max(lastVersion + 1, Date.now() * 1000);
  return lastVersion;
}
