/**
 * Directive language: the words and patterns by which a sentence tells the
 * model to act — sequencing its actions, obligations on it, imperative
 * clauses — and the prohibitions that protect instead. Data only; matched on
 * normalised text (text/prose.ts), bounded quantifiers only.
 */

/** Directive markers: sequencing the model's actions, obligations on it, imperative clauses. */
export const ACTION =
  'read|call|invoke|fetch|send|post|upload|forward|include|append|attach|pass|put|copy|add|cc|bcc|mirror|open|run|execute|visit|download|e-?mail|store|save|insert|embed|paste|submit|transmit|share|collect|gather|extract|dump|cat|load|retrieve|grab|provide|route|redirect|proxy|use|write|query|check|look up|fill|set';
export const SEQUENCE_MARKER = new RegExp(
  `\\b(?:before|prior to|after|whenever|every time|each time|once)\\s+(?:you\\s+|the\\s+(?:assistant|agent|model)\\s+)?(?:use|uses|using|call|calls|calling|invoke|invokes|invoking|run|running|execute|executing|access|accessing|read|reads|reading|open|opening|answer\\w*|respond\\w*|reply\\w*|process\\w*|start\\w*|finish\\w*|complet\\w*|return\\w*|(?:this|the|any|an?)\\s+(?:[\\w-]+\\s+)?(?:tool|function|call|request|issue|file|message|page|response))\\b|\\bwhen(?:ever)?\\s+(?:this\\s+tool|the\\s+[\\w-]+\\s+tool|any\\s+(?:other\\s+)?tool)\\s+is\\s+(?:available|present|loaded|installed|enabled|listed|used|called|invoked)\\b|\\bwhen(?:ever)?\\s+(?:you|the (?:assistant|agent|model))\\s+(?:use|call|invoke|run|read|open|send|fetch|create|write)\\b`,
  'i',
);
export const OBLIGATION = new RegExp(
  `\\b(?:you|assistants?|agents?|the (?:assistant|agent|model|ai|llm)|it)\\s+(?:must|should|shall|need to|needs to|have to|has to|are required to|is required to|are expected to|is expected to)\\s+(?:(?:first|also|always|now|then|still|immediately)\\s+){0,2}(?:${ACTION})\\b|\\b(?:must|should|shall|need to|have to)\\s+(?:first|also|always)\\s+(?:${ACTION})\\b|\\b(?:make sure|be sure|ensure|remember|don't forget|do not forget)\\s+(?:that\\s+)?(?:you\\s+)?(?:to\\s+)?(?:first\\s+|also\\s+|always\\s+)?(?:${ACTION})\\b|\\b(?:always|first|also|then|afterwards|additionally|next|finally)\\s*,?\\s+(?:${ACTION})\\b|\\b(?:is|are)\\s+(?:required|mandatory)\\s+(?:to|before|for)\\b|\\bmust\\s+(?:also\\s+)?be\\s+(?:mirrored|copied|forwarded|sent|included|attached|appended|uploaded|posted|shared|reported|synced|stored)\\b`,
  'i',
);
export const IMPERATIVE_START = new RegExp(
  `(?:^|[.!?;:,]\\s+|\\n\\s*|\\band\\s+(?:then\\s+)?|\\bthen\\s+)(?:please\\s+)?(?:${ACTION}|ignore|disregard)\\b`,
  'i',
);
/** Prohibitions protect: "you must not include personal data" is not a directive to include it. */
export const PROHIBITION = /\b(?:do not|don't|dont|never|must not|mustn't|should not|shouldn't|cannot|can't|avoid|no need to|not to)\s+[^,;]{0,120}/gi;
