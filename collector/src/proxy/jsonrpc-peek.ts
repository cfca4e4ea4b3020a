/**
 * The little the relay thread reads of a request body itself: which client
 * sends it and whether it is an `initialize`, to choose the session of a POST
 * that carries no session id. Everything else is parsed by observation.
 */

const CLIENT_INFO_META = 'io.modelcontextprotocol/clientInfo';

/** The parsed body, or undefined when it is not JSON (the observer counts that, not the relay). */
export function peekJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function messagesOf(parsed: unknown): Record<string, unknown>[] {
  return (Array.isArray(parsed) ? parsed : [parsed]).filter(isObject);
}

/** The body holds an `initialize` request (with an id). */
export function hasInitialize(parsed: unknown): boolean {
  return messagesOf(parsed).some((m) => m.method === 'initialize' && Object.prototype.hasOwnProperty.call(m, 'id'));
}

/** `name@version` of the client, from the 2026-07-28 `_meta` or from `initialize`. */
export function clientKeyOf(parsed: unknown): string | undefined {
  for (const m of messagesOf(parsed)) {
    const params = isObject(m.params) ? m.params : undefined;
    const meta = isObject(params?._meta) ? params._meta : undefined;
    const info = isObject(meta?.[CLIENT_INFO_META])
      ? meta[CLIENT_INFO_META]
      : m.method === 'initialize' && isObject(params?.clientInfo)
        ? params.clientInfo
        : undefined;
    if (info && typeof info.name === 'string') return `${info.name}@${typeof info.version === 'string' ? info.version : ''}`;
  }
  return undefined;
}
