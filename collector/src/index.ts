export { LineSplitter } from './tap/framing.js';
export type { LineSplitterOptions } from './tap/framing.js';
export { SessionTracker, idKey } from './tap/tracker.js';
export type { Direction, TrackerIdentity } from './tap/tracker.js';
export { runStdioTap, commandName } from './tap/stdio.js';
export type { StdioTapOptions, StdioTapResult } from './tap/stdio.js';
export { createSink, HttpSink, QueueingSink, DeliveryError, SinkUrlError } from './sinks/index.js';
export type { EventSink, SinkStats, SinkSettings } from './sinks/index.js';
