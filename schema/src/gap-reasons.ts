/**
 * How the `reason` of a `delivery_gap` event begins, by what made the gap,
 * so detectors and SQL users can tell them apart (events a tap dropped have
 * free-form reasons: `tap queue full`, `spool full`, …).
 */

/** The tap relayed traffic it could not observe (observer behind, a message past a limit, a failure in observation). */
export const UNOBSERVED_REASON = 'not observed:';

/** Ingest refused events while the data directory was full (taps kept them in their spools). */
export const INGEST_REFUSED_REASON = 'ingest refused:';
