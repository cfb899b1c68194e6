-- Appointment outcomes: the patient's confirmation (when, and how: phone, reminder, console),
-- a cancellation's time, whether it was late by the clinic's policy and what became of the
-- deposit (kept | refunded | none; NULL while not cancelled), how the appointment was last
-- changed (phone, staff, console, ...), and who marked the patient arrived or a no-show, when.
-- Moving an appointment clears its confirmation (a new time is not yet confirmed).
ALTER TABLE appointments ADD COLUMN confirmed_at TEXT;
ALTER TABLE appointments ADD COLUMN confirmed_via TEXT;
ALTER TABLE appointments ADD COLUMN cancelled_at TEXT;
ALTER TABLE appointments ADD COLUMN cancel_late INTEGER CHECK (cancel_late IN (0, 1));
ALTER TABLE appointments ADD COLUMN deposit_outcome TEXT CHECK (deposit_outcome IN ('kept', 'refunded', 'none'));
ALTER TABLE appointments ADD COLUMN changed_via TEXT;
ALTER TABLE appointments ADD COLUMN marked_by TEXT;
ALTER TABLE appointments ADD COLUMN marked_at TEXT;
-- The console's day list and the dashboard's rates read appointments by time.
CREATE INDEX IF NOT EXISTS appointments_slot_start ON appointments(slot_start);
