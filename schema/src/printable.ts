/**
 * Text from the monitored world (server, tool and agent names, alert titles)
 * printed to a terminal: a server could name itself with ESC, CR or bidi
 * controls to rewrite its own alert line. `printable` shows each such
 * character escaped instead.
 */

/** C0 controls, DEL, C1 controls, zero-width and bidi controls, line and paragraph separators, BOM. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must not reach the terminal raw
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** `s` with every terminal control shown as `\xNN` or `\uNNNN`. */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
