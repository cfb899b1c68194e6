-- Shadow calls (SIPREC, RFC 7866): a call staff answered, as the appliance heard it, and what it
-- would have done (its replies, escalations and outcome). Nothing in a row was said to anyone or
-- acted on: no escalation, page, booking or outbox message comes from a shadow call. One row per
-- recording session, keyed by the appliance's own call key; the both-sided transcript and the
-- would-be actions are one JSON document (`record`), encrypted with the rest of the database.
CREATE TABLE shadow_calls (
    id INTEGER PRIMARY KEY,
    call_key TEXT NOT NULL UNIQUE,
    pbx_call_id TEXT NOT NULL,
    caller_number TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    end_reason TEXT NOT NULL,
    outcome TEXT NOT NULL,
    intent TEXT,
    would_escalate TEXT,
    record TEXT NOT NULL
);
CREATE INDEX shadow_calls_started ON shadow_calls (started_at);
