-- Messages to patients (SMS, email), staff tasks, deposits that move requested -> sent -> paid,
-- opt-outs per channel (email too), and the signed callbacks already seen (replay protection).
-- Tables with a changed CHECK are rebuilt with foreign keys off (see migrate()).

CREATE TABLE deposits_new (
    id             INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patients(id),
    appointment_id INTEGER REFERENCES appointments(id),
    quote_id       INTEGER REFERENCES quotes(id),
    amount_cents   INTEGER NOT NULL CHECK (amount_cents > 0),
    currency       TEXT NOT NULL DEFAULT 'USD',
    status         TEXT NOT NULL CHECK (status IN ('requested', 'sent', 'paid', 'refunded', 'forfeited')),
    reference      TEXT,                 -- the payment provider's reference for the link
    created_at     TEXT NOT NULL,
    link           TEXT,                 -- the payment link (provider-made, or given by staff)
    sent_at        TEXT,
    paid_at        TEXT,
    updated_by     TEXT
);
INSERT INTO deposits_new (id, patient_id, appointment_id, quote_id, amount_cents, currency, status, reference, created_at)
SELECT id, patient_id, appointment_id, quote_id, amount_cents, currency, status, reference, created_at FROM deposits;
DROP TABLE deposits;
ALTER TABLE deposits_new RENAME TO deposits;
CREATE UNIQUE INDEX deposits_reference ON deposits(reference) WHERE reference IS NOT NULL;

CREATE TABLE opt_outs_new (
    id          INTEGER PRIMARY KEY,
    phone       TEXT NOT NULL,          -- the number (normalised); for channel 'email', the address (lower case)
    channel     TEXT NOT NULL CHECK (channel IN ('call', 'sms', 'email', 'all')),
    call_id     INTEGER REFERENCES calls(id),
    created_at  TEXT NOT NULL,
    UNIQUE (phone, channel)
);
INSERT INTO opt_outs_new (id, phone, channel, call_id, created_at)
SELECT id, phone, channel, call_id, created_at FROM opt_outs;
DROP TABLE opt_outs;
ALTER TABLE opt_outs_new RENAME TO opt_outs;

-- One row per message and channel, written in the transaction of its outbox message, whose id
-- is the message's idempotency key (sent to the gateway as a header, in the email Message-ID).
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    msg_key     TEXT NOT NULL UNIQUE,
    purpose     TEXT NOT NULL,          -- payment-link | aftercare-instructions
    dedupe      TEXT NOT NULL UNIQUE,   -- purpose:subject:channel: one message per purpose, subject and channel
    channel     TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    patient_id  INTEGER REFERENCES patients(id),
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL DEFAULT '',
    body        TEXT NOT NULL,
    template    TEXT NOT NULL,          -- provenance: the pack and template it was written from
    status      TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'dead', 'suppressed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    deposit_id  INTEGER REFERENCES deposits(id),
    plan_id     INTEGER REFERENCES aftercare_plans(id),
    created_at  TEXT NOT NULL,
    sent_at     TEXT
);
CREATE INDEX messages_created ON messages(created_at);
CREATE INDEX messages_plan ON messages(plan_id) WHERE plan_id IS NOT NULL;

-- Work for the front desk the appliance cannot do itself (send a payment link, print a sheet).
CREATE TABLE staff_tasks (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,          -- send-payment-link | print-aftercare-sheet
    dedupe      TEXT NOT NULL UNIQUE,
    patient_id  INTEGER REFERENCES patients(id),
    deposit_id  INTEGER REFERENCES deposits(id),
    plan_id     INTEGER REFERENCES aftercare_plans(id),
    detail      TEXT NOT NULL DEFAULT '{}',   -- JSON
    status      TEXT NOT NULL CHECK (status IN ('open', 'done')),
    created_at  TEXT NOT NULL,
    done_at     TEXT,
    done_by     TEXT
);
CREATE INDEX staff_tasks_open ON staff_tasks(created_at) WHERE status = 'open';

CREATE TABLE callbacks_seen (
    digest   TEXT PRIMARY KEY,          -- sha256 of the signature: a replayed callback is refused
    seen_at  TEXT NOT NULL
);

-- The provider who gave a treatment recorded in the console.
ALTER TABLE aftercare_plans ADD COLUMN provider TEXT;
