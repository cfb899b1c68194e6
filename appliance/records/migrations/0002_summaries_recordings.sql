-- Post-call summaries, redacted transcripts for analytics, optional encrypted recordings.

CREATE TABLE call_summaries (
    call_id     INTEGER PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    summary     TEXT NOT NULL,          -- JSON, see appliance.records.summary
    created_at  TEXT NOT NULL
);

CREATE TABLE redacted_transcripts (
    call_id     INTEGER PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    text        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE recordings (
    id           INTEGER PRIMARY KEY,
    call_id      INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    sample_rate  INTEGER NOT NULL,
    encoding     TEXT NOT NULL,          -- 'pcm_s16le'
    audio        BLOB NOT NULL,          -- inside the encrypted database
    created_at   TEXT NOT NULL
);

ALTER TABLE escalations ADD COLUMN outbox_msg_id TEXT;
