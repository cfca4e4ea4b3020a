/**
 * Which calls can move data out of the machine or to other people: the sink
 * side of an exfiltration chain. Judged from what the call names (tool name
 * words) and what it carries (destinations: URLs, e-mail domains).
 */
import type { ToolCallEvent } from '@tapwatch/schema';

/**
 * Tool-name words that mean "send somewhere": network requests, messages,
 * publishing and uploads, writes into shared systems (issues, PRs, comments,
 * gists, pages), and the generic remote verbs. Split on case, `_`, `-`, `.`.
 */
const EGRESS_WORDS = new Set([
  'fetch',
  'http',
  'https',
  'request',
  'post',
  'put',
  'patch',
  'curl',
  'wget',
  'webhook',
  'url',
  'browse',
  'navigate',
  'send',
  'email',
  'mail',
  'message',
  'msg',
  'chat',
  'notify',
  'notification',
  'sms',
  'slack',
  'tweet',
  'reply',
  'upload',
  'publish',
  'share',
  'sync',
  'backup',
  'export',
  'push',
  'deploy',
  'transfer',
  'forward',
  'issue',
  'comment',
  'pull',
  'pr',
  'gist',
  'page',
  'wiki',
  'discussion',
  'review',
  'release',
  'snapshot',
  'paste',
  'submit',
]);

/** Words that, alone, make a name read-only even if an egress word also appears (`get_issue`, `list_pull_requests`). */
const READ_WORDS = new Set(['get', 'list', 'read', 'search', 'find', 'query', 'describe', 'show', 'view', 'fetch_status', 'status', 'download']);
const WRITE_WORDS = new Set([
  'create',
  'add',
  'update',
  'edit',
  'post',
  'send',
  'write',
  'put',
  'upload',
  'publish',
  'comment',
  'reply',
  'submit',
  'push',
  'share',
  'open',
  'merge',
  'set',
]);

/**
 * The words of a tool name, lower-cased. Tool names repeat on every call and the split costs
 * three regular expressions, so results are remembered (the returned array is frozen: shared).
 */
export function nameWords(name: string): readonly string[] {
  let words = NAME_WORDS.get(name);
  if (words === undefined) {
    words = Object.freeze(
      name
        .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
        .toLowerCase()
        .split(/[^a-z0-9]+/)
        .filter((w) => w.length > 0),
    );
    // Bounded: a flood of distinct names starts the memo over instead of growing it.
    if (NAME_WORDS.size >= MAX_NAMES) NAME_WORDS.clear();
    NAME_WORDS.set(name, words);
  }
  return words;
}

const NAME_WORDS = new Map<string, readonly string[]>();
const MAX_NAMES = 10_000;
const EGRESS_TOOLS = new Map<string, boolean>();

/** True when the call can carry data out: a network or messaging tool, a write into a shared system, or any call naming a remote destination. */
export function isEgressCall(event: Pick<ToolCallEvent, 'tool' | 'destinations'>): boolean {
  if (event.destinations && event.destinations.length > 0) return true;
  return isEgressTool(event.tool);
}

export function isEgressTool(tool: string): boolean {
  let egress = EGRESS_TOOLS.get(tool);
  if (egress === undefined) {
    egress = judgeTool(tool);
    if (EGRESS_TOOLS.size >= MAX_NAMES) EGRESS_TOOLS.clear();
    EGRESS_TOOLS.set(tool, egress);
  }
  return egress;
}

function judgeTool(tool: string): boolean {
  const words = nameWords(tool);
  if (!words.some((w) => EGRESS_WORDS.has(w))) return false;
  // Pure network verbs are egress whatever else the name says (fetch carries its URL).
  if (
    words.some((w) =>
      [
        'fetch',
        'http',
        'https',
        'request',
        'curl',
        'wget',
        'webhook',
        'send',
        'email',
        'mail',
        'upload',
        'publish',
        'notify',
        'sync',
        'backup',
        'export',
        'transfer',
        'forward',
        'snapshot',
        'share',
      ].includes(w),
    )
  ) {
    return true;
  }
  // Shared systems (issues, PRs, comments…): only the writing verbs.
  const reads = words.some((w) => READ_WORDS.has(w));
  const writes = words.some((w) => WRITE_WORDS.has(w));
  return writes || !reads;
}
