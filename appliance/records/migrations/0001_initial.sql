-- The appliance's records: patients, calls and what they produced, the clinic's bookings,
-- consents, staff, the audit trail and the outbox. Times are ISO 8601 UTC text.

-- Store-wide secrets and facts, e.g. the audit chain's HMAC key (kept across key rotations).
CREATE TABLE meta (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
);

CREATE TABLE patients (
    id          INTEGER PRIMARY KEY,
    name        TEXT,
    phone       TEXT,
    dob         TEXT,
    email       TEXT,
    address     TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX patients_phone ON patients(phone);

CREATE TABLE calls (
    id            INTEGER PRIMARY KEY,
    pbx_call_id   TEXT NOT NULL UNIQUE,
    direction     TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    patient_id    INTEGER REFERENCES patients(id),
    caller_number TEXT,
    started_at    TEXT NOT NULL,
    answered_at   TEXT,
    ended_at      TEXT,
    outcome       TEXT,
    end_reason    TEXT,
    pack          TEXT
);
CREATE INDEX calls_started ON calls(started_at);

CREATE TABLE turns (
    id             INTEGER PRIMARY KEY,
    call_id        INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    idx            INTEGER NOT NULL,
    speaker        TEXT NOT NULL CHECK (speaker IN ('agent', 'caller')),
    text           TEXT NOT NULL,
    provenance     TEXT,
    heard_fraction REAL NOT NULL DEFAULT 1.0,
    UNIQUE (call_id, idx)
);

CREATE TABLE intake_answers (
    id          INTEGER PRIMARY KEY,
    call_id     INTEGER REFERENCES calls(id) ON DELETE CASCADE,
    patient_id  INTEGER REFERENCES patients(id),
    question    TEXT NOT NULL,
    answer      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE screen_results (
    id          INTEGER PRIMARY KEY,
    call_id     INTEGER REFERENCES calls(id) ON DELETE CASCADE,
    patient_id  INTEGER REFERENCES patients(id),
    complete    INTEGER NOT NULL,
    flags       TEXT NOT NULL,          -- JSON list
    created_at  TEXT NOT NULL
);

CREATE TABLE quotes (
    id          INTEGER PRIMARY KEY,
    call_id     INTEGER REFERENCES calls(id),
    patient_id  INTEGER REFERENCES patients(id),
    procedure   TEXT NOT NULL,
    detail      TEXT,                   -- e.g. "20-25 units glabella"
    low_cents   INTEGER NOT NULL CHECK (low_cents >= 0),
    high_cents  INTEGER NOT NULL CHECK (high_cents >= low_cents),
    currency    TEXT NOT NULL DEFAULT 'USD',
    created_at  TEXT NOT NULL
);

CREATE TABLE appointments (
    id          INTEGER PRIMARY KEY,
    patient_id  INTEGER NOT NULL REFERENCES patients(id),
    provider    TEXT NOT NULL,
    slot_start  TEXT NOT NULL,
    slot_end    TEXT NOT NULL,
    procedure   TEXT,
    status      TEXT NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled', 'completed', 'no-show')),
    call_id     INTEGER REFERENCES calls(id),
    created_at  TEXT NOT NULL,
    CHECK (slot_end > slot_start)
);
-- A provider's slot holds one live booking: a second 'booked' row for it is refused.
CREATE UNIQUE INDEX appointments_one_per_slot ON appointments(provider, slot_start) WHERE status = 'booked';

CREATE TABLE deposits (
    id             INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patients(id),
    appointment_id INTEGER REFERENCES appointments(id),
    quote_id       INTEGER REFERENCES quotes(id),
    amount_cents   INTEGER NOT NULL CHECK (amount_cents > 0),
    currency       TEXT NOT NULL DEFAULT 'USD',
    status         TEXT NOT NULL CHECK (status IN ('requested', 'paid', 'refunded', 'forfeited')),
    reference      TEXT,
    created_at     TEXT NOT NULL
);

CREATE TABLE escalations (
    id              INTEGER PRIMARY KEY,
    call_id         INTEGER REFERENCES calls(id),
    severity        TEXT NOT NULL CHECK (severity IN ('emergency', 'urgent', 'routine')),
    category        TEXT NOT NULL,
    turn_idx        INTEGER,
    detail          TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT
);

CREATE TABLE aftercare_plans (
    id             INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patients(id),
    appointment_id INTEGER REFERENCES appointments(id),
    procedure      TEXT NOT NULL,
    pack           TEXT,
    created_at     TEXT NOT NULL
);

CREATE TABLE aftercare_contacts (
    id           INTEGER PRIMARY KEY,
    plan_id      INTEGER NOT NULL REFERENCES aftercare_plans(id) ON DELETE CASCADE,
    day          INTEGER NOT NULL,
    due_at       TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'done', 'missed', 'cancelled')),
    call_id      INTEGER REFERENCES calls(id),
    completed_at TEXT,
    UNIQUE (plan_id, day)
);

CREATE TABLE consents (
    id          INTEGER PRIMARY KEY,
    patient_id  INTEGER REFERENCES patients(id),
    kind        TEXT NOT NULL,          -- e.g. 'recording', 'sms', 'aftercare-calls'
    granted     INTEGER NOT NULL CHECK (granted IN (0, 1)),
    source      TEXT NOT NULL,          -- 'call', 'console', ...
    call_id     INTEGER REFERENCES calls(id),
    created_at  TEXT NOT NULL
);

CREATE TABLE opt_outs (
    id          INTEGER PRIMARY KEY,
    phone       TEXT NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('call', 'sms', 'all')),
    call_id     INTEGER REFERENCES calls(id),
    created_at  TEXT NOT NULL,
    UNIQUE (phone, channel)
);

CREATE TABLE staff_users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'clinician', 'front-desk')),
    password_hash TEXT,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);

-- Append-only, hash-chained: every event's hash covers its fields and the previous hash.
CREATE TABLE audit_events (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    call_id    TEXT,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

-- Transactional outbox: written in the same transaction as the data, relayed later.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id       TEXT NOT NULL UNIQUE,
    topic        TEXT NOT NULL,
    payload      TEXT NOT NULL,          -- JSON
    created_at   TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    delivered_at TEXT
);
CREATE INDEX outbox_pending ON outbox(seq) WHERE delivered_at IS NULL;
