-- The answers a patient gave on a check-in call (appliance.clinic.checkin): a JSON object
-- {question id: yes | no | unsure | declined | the patient's words}, the concern question
-- included, written by the scheduler when the call's attempt is recorded (audited
-- `aftercare_contact.update`). NULL: no question was answered (other contact kinds, a call not
-- reached). A later attempt of the same contact adds its answers to the earlier ones.
ALTER TABLE aftercare_contacts ADD COLUMN answers TEXT;
