export { Analyzer } from './analyzer.js';
export type { AnalyzerOptions, AnalyzerStats } from './analyzer.js';
export { MemoryEventBus, AlertHub } from './bus/memory.js';
export {
  kafkaClient,
  ensureTopics,
  KafkaEventSource,
  KafkaEventPublisher,
  KafkaAlertPublisher,
  KafkaAlertFeed,
  consumerGroupLag,
  DEAD_LETTER_HEADERS,
} from './bus/kafka.js';
export type { KafkaSettings, KafkaEventSourceOptions, ConsumerLag } from './bus/kafka.js';
export type { EventRecord, EventBatchHandler, EventSource, EventPublisher, AlertPublisher, AlertFeed, AlertListener, BatchOutcome, RejectedRecord } from './bus/types.js';
export { openClickHouseStore } from './store/clickhouse.js';
export type { ClickHouseStoreOptions } from './store/clickhouse.js';
export type { Store, QueryResult, ToolDefinitionRow, KnownDefinition } from './store/store.js';
export { MIGRATIONS, USER_TABLES } from './store/schema.js';
export { toChTime, fromChTime } from './store/rows.js';
export { StoreErrorCode, wrapQueryError } from './errors.js';
export { DetectionEngine, RESULT_SIZE_DETECTOR, DEFINITION_CHANGE_DETECTOR, definitionHash, canonicalJson } from './detectors/index.js';
export type { DetectionConfig, DetectionOutcome, Finding, LearningState } from './detectors/index.js';
export { DETECTORS, eventTypeIndex } from './detectors/registry.js';
export { defineDetector } from './detectors/detector.js';
export type { Detector, AnyDetector, DetectContext, StoreReader, EventType } from './detectors/detector.js';
export { detectResultSize, createResultSizeState, seedResultSizes, METRICS } from './detectors/result-size.js';
export type { ResultSizeConfig, ResultSizeState } from './detectors/result-size.js';
export { detectDefinitionChange, createDefinitionState } from './detectors/definition-change.js';
export type { DefinitionState } from './detectors/definition-change.js';
export { alertId, BoundedMap } from './detectors/types.js';
export { detectContent, createContentState } from './detectors/content.js';
export { detectFlow, createFlowState } from './detectors/flow.js';
export { isEgressCall, isEgressTool } from './detectors/egress.js';
export { detectNewServer } from './detectors/new-server.js';
export { detectUnadvertised } from './detectors/unadvertised-tool.js';
export { noteToolsList, createNoveltyState } from './detectors/novelty-state.js';
export { detectFirstUse, createAgentNoveltyState } from './detectors/first-use.js';
export { detectRate, learnSessionEnd } from './detectors/rate.js';
export { createRateState } from './detectors/rate-state.js';
export { bulkThreshold } from './detectors/bulk-reads.js';
export { corroborate, createCorroborationState, family } from './detectors/corroborate.js';
export { backtest } from './backtest.js';
export type { BacktestOptions, BacktestReport } from './backtest.js';
export { toolCallFromRow, sessionFromRow, toolsListFromRows } from './store/rows.js';
export { detectPoisoning, createPoisoningState, analyzeToolDefinition, POISONING_DETECTOR } from './detectors/poisoning.js';
export { detectShadowing, createShadowingState, seedShadowing, SHADOWING_DETECTOR } from './detectors/shadowing.js';
export { detectSequence, createSequenceState, learnTransition, transitionProbability, SEQUENCE_DETECTOR } from './detectors/sequence.js';
export { loadRules, loadRulesFiles, createRulesState, evaluateRules, RulesError, BUILTIN_RULES_PATH } from './rules/index.js';
export type { CompiledRules, RulesState } from './rules/index.js';
export { mergeAlerts, closeExpired, createMergeState, MERGED_SUFFIX } from './detectors/merge.js';
export { ReadModel, silenceMatches } from './store/queries.js';
export type { AlertStatus, AlertView, AlertFilter, CallFilter, CallView, Silence, ToolSummary, ToolVersion, TimelineEntry, Stats, StatsFilter, DeadLetter } from './store/queries.js';
export { STATE_TABLES } from './store/state-tables.js';
export { SilenceFilter } from './delivery/silences.js';
export type { SilenceFilterStats } from './delivery/silences.js';
export { WebhookPublisher, WebhookSchema, parseWebhooks, signature, slackPayload, redactUrl } from './delivery/webhooks.js';
export type { Webhook, WebhookOptions, WebhookStats } from './delivery/webhooks.js';
export { alertDelivery } from './delivery/pipeline.js';
export type { AlertDelivery } from './delivery/pipeline.js';
