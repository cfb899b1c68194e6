-- The documentation checklist of a call (its workflow's `documentation.required`) signed off by
-- staff: who and when. One sign-off per call; the checklist itself is computed from the call's
-- stored summary, turns and escalations, so only the sign-off is kept here.
CREATE TABLE IF NOT EXISTS documentation_signoffs (
    call_id INTEGER PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    workflow TEXT,
    signed_by TEXT NOT NULL,
    signed_at TEXT NOT NULL
);
