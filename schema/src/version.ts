/** The event schema version every event carries as `v` (see events.ts). Kept free of zod so light entry points can use it. */
export const EVENT_SCHEMA_VERSION = 1 as const;
