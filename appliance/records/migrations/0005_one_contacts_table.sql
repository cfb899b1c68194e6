-- One table for aftercare and recall contacts, one treatment date per plan.
--
-- Schema 1 had `aftercare_contacts` (plan, day, due time, status); schema 4 added the
-- scheduler's `outbound_contacts` (kind, expiry, retry time, lease, attempts, outcome flags).
-- The scheduler's table becomes `aftercare_contacts` (its dial attempts in `outbound_attempts`
-- follow the rename), and every row of the old table moves into it as a day-N check-in:
--     scheduled -> due, done -> completed, missed -> failed, cancelled -> cancelled
-- expiring two days after its due time, like a planned check-in.
-- Schema 3's `aftercare_plans.treated_at` (a UTC time) stays; schema 4's `treated_on` (a date)
-- goes: plans that only had the date get noon UTC of that day (the same calendar day in every
-- clinic time zone from UTC-11 to UTC+11).

CREATE TEMP TABLE legacy_contacts AS SELECT * FROM aftercare_contacts;
DROP TABLE aftercare_contacts;

ALTER TABLE outbound_contacts RENAME TO aftercare_contacts;
DROP INDEX outbound_contacts_due;
CREATE INDEX aftercare_contacts_due ON aftercare_contacts(state, next_at);
CREATE INDEX aftercare_contacts_plan ON aftercare_contacts(plan_id);

INSERT OR IGNORE INTO aftercare_contacts
    (plan_id, kind, day, due_at, expires_at, next_at, state, disposition, reached, call_id, created_at,
     updated_at, completed_at)
SELECT l.plan_id, 'check-in', max(l.day, 0), l.due_at,
       strftime('%Y-%m-%dT%H:%M:%f', l.due_at, '+2 days') || '000+00:00', l.due_at,
       CASE l.status WHEN 'scheduled' THEN 'due' WHEN 'done' THEN 'completed' WHEN 'missed' THEN 'failed'
                     ELSE 'cancelled' END,
       CASE l.status WHEN 'done' THEN 'completed' WHEN 'missed' THEN 'expired' WHEN 'cancelled' THEN 'cancelled'
                     ELSE NULL END,
       CASE l.status WHEN 'done' THEN 1 ELSE 0 END,
       l.call_id, p.created_at, coalesce(l.completed_at, p.created_at), l.completed_at
FROM legacy_contacts l JOIN aftercare_plans p ON p.id = l.plan_id
ORDER BY l.id;
DROP TABLE legacy_contacts;

UPDATE aftercare_plans SET treated_at = treated_on || 'T12:00:00.000000+00:00'
WHERE treated_at IS NULL AND treated_on IS NOT NULL;
ALTER TABLE aftercare_plans DROP COLUMN treated_on;
