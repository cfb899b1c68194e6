"""Shadow calls: the appliance listens to a real call staff answer (a SIPREC recording session
from the PBX, appliance.telephony.siprec) and records what it would have done, without a word.

`listener` hears each recorded side as a live call is heard (Silero VAD, the live endpointing
decisions, Whisper); `record` is the pure account of the call (both-sided transcript, would-be
replies, escalations, actions); `runner` runs the clinic's conversation engine on the patient's
turns and never carries out its actions; `store` keeps the record encrypted (every read audited);
`console` shows it to clinicians.
"""
