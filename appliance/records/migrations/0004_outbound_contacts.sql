-- Outbound aftercare and recall calls (appliance.scheduler): the treatment behind each plan,
-- one row per planned contact with its durable state, and one row per dial attempt.

ALTER TABLE aftercare_plans ADD COLUMN workflow TEXT;
ALTER TABLE aftercare_plans ADD COLUMN treated_on TEXT;
ALTER TABLE aftercare_plans ADD COLUMN product TEXT;
ALTER TABLE aftercare_plans ADD COLUMN area TEXT;
ALTER TABLE aftercare_plans ADD COLUMN session INTEGER;
ALTER TABLE aftercare_plans ADD COLUMN time_zone TEXT;      -- the patient's IANA zone (default: the clinic's)
ALTER TABLE aftercare_plans ADD COLUMN source TEXT;         -- 'console', 'csv', 'api'

-- state: due -> dialing (leased) -> completed | due (retry) | failed (attempts used up or expired)
--        | cancelled (opt-out, consent withdrawn, plan cancelled)
CREATE TABLE outbound_contacts (
    id           INTEGER PRIMARY KEY,
    plan_id      INTEGER NOT NULL REFERENCES aftercare_plans(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('check-in', 'review', 'touch-up', 'recall', 'series')),
    day          INTEGER NOT NULL CHECK (day >= 0),
    item         TEXT,
    due_at       TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    next_at      TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'due'
                 CHECK (state IN ('due', 'dialing', 'completed', 'failed', 'cancelled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_token  TEXT,
    lease_until  TEXT,
    last_result  TEXT,
    disposition  TEXT,
    reached      INTEGER NOT NULL DEFAULT 0,
    delivered    INTEGER NOT NULL DEFAULT 0,
    concern      INTEGER NOT NULL DEFAULT 0,
    escalated    INTEGER NOT NULL DEFAULT 0,
    booked       INTEGER NOT NULL DEFAULT 0,
    opted_out    INTEGER NOT NULL DEFAULT 0,
    message_left INTEGER NOT NULL DEFAULT 0,
    call_id      INTEGER REFERENCES calls(id),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    completed_at TEXT,
    UNIQUE (plan_id, kind, day)
);
CREATE INDEX outbound_contacts_due ON outbound_contacts(state, next_at);

CREATE TABLE outbound_attempts (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER NOT NULL REFERENCES outbound_contacts(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    token       TEXT NOT NULL UNIQUE,
    worker      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    result      TEXT,
    UNIQUE (contact_id, attempt)
);
