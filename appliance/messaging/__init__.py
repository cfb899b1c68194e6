"""Messages to patients: SMS (the PBX or an HTTPS gateway) and email (SMTP), from approved pack
templates, through the transactional outbox; payment links; written aftercare."""
