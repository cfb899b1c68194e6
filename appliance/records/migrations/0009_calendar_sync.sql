-- Clinic calendar sync (CalDAV, appliance.calsync). Each appointment's place in the clinic's
-- calendar: its state (NULL: not synced; unconfirmed | confirmed | conflict | removed), the
-- event's UID (chosen once, before the first write, so a retried write is the same event), its
-- resource and ETag, and the times last written to (or read from) the calendar.
ALTER TABLE appointments ADD COLUMN cal_state TEXT;
ALTER TABLE appointments ADD COLUMN cal_uid TEXT;
ALTER TABLE appointments ADD COLUMN cal_href TEXT;
ALTER TABLE appointments ADD COLUMN cal_etag TEXT;
ALTER TABLE appointments ADD COLUMN cal_start TEXT;
ALTER TABLE appointments ADD COLUMN cal_end TEXT;
CREATE UNIQUE INDEX appointments_cal_uid ON appointments(cal_uid) WHERE cal_uid IS NOT NULL;

-- One row per provider's calendar: where it is, how far it was read (RFC 6578 sync token, or
-- the CalendarServer ctag when read by ETags), when it was last read in full, and since when
-- the appliance writes that provider's new appointments into it.
CREATE TABLE calendar_collections (
    provider    TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    sync_token  TEXT,
    ctag        TEXT,
    mode        TEXT NOT NULL DEFAULT 'sync-token',
    full_at     TEXT,
    synced_at   TEXT,
    since       TEXT NOT NULL
);

-- The calendars' events as last read: times only (no summary, description or attendee of
-- another system's event is kept). `first_*`: the first occurrence (an appliance event has one).
CREATE TABLE calendar_events (
    provider    TEXT NOT NULL,
    href        TEXT NOT NULL,
    uid         TEXT,
    etag        TEXT,
    cancelled   INTEGER NOT NULL DEFAULT 0,
    first_start TEXT,
    first_end   TEXT,
    PRIMARY KEY (provider, href)
);
CREATE INDEX calendar_events_uid ON calendar_events(uid);

-- Their busy intervals inside the booking horizon (recurrences expanded), UTC ISO text.
CREATE TABLE calendar_busy (
    provider  TEXT NOT NULL,
    href      TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at   TEXT NOT NULL
);
CREATE INDEX calendar_busy_provider ON calendar_busy(provider, starts_at);
