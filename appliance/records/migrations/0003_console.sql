-- What the staff console keeps in the shared store: desk-phone extensions, the clinic's own
-- patient reference, the escalation queue's deadline, resolution and paging, the review of AI
-- summaries (corrections counted), appointment kinds, aftercare follow-up progress, and
-- per-endpoint outbox delivery (each consumer gets every message at least once, with back-off).

ALTER TABLE staff_users ADD COLUMN extension TEXT;  -- desk phone, for paging

ALTER TABLE patients ADD COLUMN ref TEXT;  -- the practice-management system's identifier
CREATE UNIQUE INDEX patients_ref ON patients(ref) WHERE ref IS NOT NULL;

ALTER TABLE calls ADD COLUMN line TEXT;  -- what staff see as "line 2"

-- The response deadline comes from the protocol's response-time target (NULL on escalations
-- stored before this version: the console derives it from the severity's default).
ALTER TABLE escalations ADD COLUMN deadline_at TEXT;
ALTER TABLE escalations ADD COLUMN resolved_at TEXT;
ALTER TABLE escalations ADD COLUMN resolved_by TEXT;
ALTER TABLE escalations ADD COLUMN resolution_note TEXT;
ALTER TABLE escalations ADD COLUMN paged TEXT NOT NULL DEFAULT '';  -- extensions paged, in order
CREATE INDEX escalations_open ON escalations(created_at) WHERE resolved_at IS NULL;

-- Staff review of the AI summary: draft until approved; every changed text is a correction.
ALTER TABLE call_summaries ADD COLUMN draft_text TEXT;  -- the AI draft as shown to staff
ALTER TABLE call_summaries ADD COLUMN final_text TEXT;
ALTER TABLE call_summaries ADD COLUMN status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'final'));
ALTER TABLE call_summaries ADD COLUMN reviewed_by TEXT;
ALTER TABLE call_summaries ADD COLUMN reviewed_at TEXT;
ALTER TABLE call_summaries ADD COLUMN corrections INTEGER NOT NULL DEFAULT 0;

CREATE TABLE summary_corrections (
    id          INTEGER PRIMARY KEY,
    call_id     INTEGER NOT NULL REFERENCES call_summaries(call_id) ON DELETE CASCADE,
    by_user     TEXT NOT NULL,
    at          TEXT NOT NULL,
    before_text TEXT NOT NULL,
    after_text  TEXT NOT NULL
);

ALTER TABLE appointments ADD COLUMN kind TEXT NOT NULL DEFAULT 'treatment';  -- treatment, review, consult

-- Aftercare follow-up progress (the workflow-quality measures).
ALTER TABLE aftercare_plans ADD COLUMN treated_at TEXT;
ALTER TABLE aftercare_plans ADD COLUMN stage TEXT NOT NULL DEFAULT 'instructions';
ALTER TABLE aftercare_plans ADD COLUMN instructions_delivered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE aftercare_plans ADD COLUMN patient_responded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE aftercare_plans ADD COLUMN series_total INTEGER NOT NULL DEFAULT 1;
ALTER TABLE aftercare_plans ADD COLUMN series_done INTEGER NOT NULL DEFAULT 1;
ALTER TABLE aftercare_plans ADD COLUMN review_due_at TEXT;
ALTER TABLE aftercare_plans ADD COLUMN review_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE aftercare_plans ADD COLUMN rebooked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE aftercare_plans ADD COLUMN satisfaction INTEGER CHECK (satisfaction BETWEEN 1 AND 5);

-- Outbox consumers (the console's live pages, each LAN webhook) and each one's delivery of
-- each message. A message written while an endpoint is registered gets a delivery row in the
-- same transaction (trigger); `outbox.delivered_at` is set once every delivery is done.
CREATE TABLE outbox_endpoints (
    name      TEXT PRIMARY KEY,
    active    INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    added_at  TEXT NOT NULL
);

CREATE TABLE outbox_deliveries (
    msg_seq      INTEGER NOT NULL REFERENCES outbox(seq) ON DELETE CASCADE,
    endpoint     TEXT NOT NULL REFERENCES outbox_endpoints(name),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TEXT,                   -- NULL: due now; else not before (back-off)
    delivered_at TEXT,
    last_error   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (endpoint, msg_seq)
);
CREATE INDEX outbox_deliveries_pending ON outbox_deliveries(endpoint, msg_seq) WHERE delivered_at IS NULL;
CREATE INDEX outbox_deliveries_msg ON outbox_deliveries(msg_seq);

CREATE TRIGGER outbox_fan_out AFTER INSERT ON outbox
BEGIN
    INSERT INTO outbox_deliveries (msg_seq, endpoint) SELECT NEW.seq, name FROM outbox_endpoints WHERE active = 1;
END;

CREATE TRIGGER outbox_all_delivered AFTER UPDATE OF delivered_at ON outbox_deliveries
WHEN NEW.delivered_at IS NOT NULL
BEGIN
    UPDATE outbox SET delivered_at = NEW.delivered_at
    WHERE seq = NEW.msg_seq AND delivered_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM outbox_deliveries WHERE msg_seq = NEW.msg_seq AND delivered_at IS NULL);
END;
