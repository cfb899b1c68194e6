-- Every call has its own row, keyed by the appliance's own id (`call_key`). The PBX's Call-ID
-- stays as data but is no longer unique: a PBX that reuses a Call-ID (or a hostile one) gets a
-- second row instead of overwriting an earlier patient's call. Calls stored before this version
-- keep their Call-ID as their key. (The table is rebuilt with foreign keys off: see migrate().)

CREATE TABLE calls_new (
    id            INTEGER PRIMARY KEY,
    call_key      TEXT NOT NULL UNIQUE,
    pbx_call_id   TEXT NOT NULL,
    direction     TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    patient_id    INTEGER REFERENCES patients(id),
    caller_number TEXT,
    started_at    TEXT NOT NULL,
    answered_at   TEXT,
    ended_at      TEXT,
    outcome       TEXT,
    end_reason    TEXT,
    pack          TEXT,
    line          TEXT
);
INSERT INTO calls_new (id, call_key, pbx_call_id, direction, patient_id, caller_number, started_at, answered_at,
                       ended_at, outcome, end_reason, pack, line)
SELECT id, pbx_call_id, pbx_call_id, direction, patient_id, caller_number, started_at, answered_at,
       ended_at, outcome, end_reason, pack, line FROM calls;
DROP TABLE calls;
ALTER TABLE calls_new RENAME TO calls;
CREATE INDEX calls_started ON calls(started_at);
CREATE INDEX calls_pbx ON calls(pbx_call_id);
CREATE INDEX calls_open ON calls(id) WHERE ended_at IS NULL;
