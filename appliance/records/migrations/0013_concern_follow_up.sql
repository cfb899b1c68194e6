-- Concern follow-ups (appliance.records.concern): when staff resolve a concern's escalation, the
-- front desk calls the patient `after_hours` later (the pack's outbound.yaml concern_follow_up)
-- to ask whether it is better, the same or worse. The contact is a `desk_contacts` row of kind
-- `concern_follow_up` naming its escalation; its outcome (`disposition`: better | escalated |
-- not reached ...) is shown on the escalation. SQLite cannot change a CHECK constraint in place:
-- the table is rebuilt (foreign keys are off during migrations and checked before commit).
CREATE TABLE desk_contacts_new (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('reminder', 'callback', 'concern_follow_up')),
    appointment_id INTEGER REFERENCES appointments(id),
    patient_id     INTEGER REFERENCES patients(id),
    escalation_id  INTEGER REFERENCES escalations(id),  -- concern follow-ups: the resolved escalation
    phone          TEXT NOT NULL,
    phone_key      TEXT NOT NULL,
    slot_at        TEXT,
    lead_hours     INTEGER,
    reason         TEXT,
    due_at         TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    next_at        TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT 'due'
                   CHECK (state IN ('due', 'dialing', 'completed', 'failed', 'cancelled')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    lease_token    TEXT,
    lease_until    TEXT,
    last_result    TEXT,
    disposition    TEXT,
    call_id        INTEGER REFERENCES calls(id),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    completed_at   TEXT,
    CHECK (kind != 'reminder' OR (appointment_id IS NOT NULL AND slot_at IS NOT NULL AND lead_hours IS NOT NULL)),
    CHECK (kind != 'concern_follow_up' OR escalation_id IS NOT NULL)
);
INSERT INTO desk_contacts_new (id, kind, appointment_id, patient_id, phone, phone_key, slot_at, lead_hours, reason,
                               due_at, expires_at, next_at, state, attempts, lease_token, lease_until, last_result,
                               disposition, call_id, created_at, updated_at, completed_at)
    SELECT id, kind, appointment_id, patient_id, phone, phone_key, slot_at, lead_hours, reason, due_at, expires_at,
           next_at, state, attempts, lease_token, lease_until, last_result, disposition, call_id, created_at,
           updated_at, completed_at FROM desk_contacts;
DROP TABLE desk_contacts;
ALTER TABLE desk_contacts_new RENAME TO desk_contacts;
CREATE INDEX desk_contacts_due ON desk_contacts(state, next_at);
CREATE INDEX desk_contacts_appointment ON desk_contacts(appointment_id);
CREATE UNIQUE INDEX desk_contacts_one_reminder ON desk_contacts(appointment_id, slot_at, lead_hours)
    WHERE kind = 'reminder';
CREATE UNIQUE INDEX desk_contacts_one_callback ON desk_contacts(phone_key)
    WHERE kind = 'callback' AND state IN ('due', 'dialing');
-- Resolving an escalation twice schedules one follow-up.
CREATE UNIQUE INDEX desk_contacts_one_follow_up ON desk_contacts(escalation_id)
    WHERE kind = 'concern_follow_up';
