-- Front-desk contacts (appliance.scheduler.desk_store): outbound calls that are not aftercare
-- plans. `reminder`: an appointment reminder `lead_hours` before the appointment's time as it
-- was when planned (`slot_at`); `callback`: a caller turned away (486 at capacity) or who hung
-- up before saying anything is called back. `phone_key` is the number in `normalize_phone` form
-- (digits, country code first): at most one pending call-back per number.
--
-- state: due -> dialing (leased) -> completed | due (retry) | failed (attempts used up, expired)
--        | cancelled (opt-out, appointment cancelled or moved, the caller called again)
CREATE TABLE desk_contacts (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('reminder', 'callback')),
    appointment_id INTEGER REFERENCES appointments(id),
    patient_id     INTEGER REFERENCES patients(id),
    phone          TEXT NOT NULL,
    phone_key      TEXT NOT NULL,
    slot_at        TEXT,                 -- reminders: the appointment's start it was planned for
    lead_hours     INTEGER,              -- reminders: hours before slot_at
    reason         TEXT,                 -- call-backs: busy | silent
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
    CHECK (kind != 'reminder' OR (appointment_id IS NOT NULL AND slot_at IS NOT NULL AND lead_hours IS NOT NULL))
);
CREATE INDEX desk_contacts_due ON desk_contacts(state, next_at);
CREATE INDEX desk_contacts_appointment ON desk_contacts(appointment_id);
-- Planning is idempotent: one reminder per appointment, planned time and lead.
CREATE UNIQUE INDEX desk_contacts_one_reminder ON desk_contacts(appointment_id, slot_at, lead_hours)
    WHERE kind = 'reminder';
-- At most one pending call-back per number.
CREATE UNIQUE INDEX desk_contacts_one_callback ON desk_contacts(phone_key)
    WHERE kind = 'callback' AND state IN ('due', 'dialing');
