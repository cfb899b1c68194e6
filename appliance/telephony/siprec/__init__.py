"""SIPREC (RFC 7866): the appliance as a recording server. The PBX (the recording client) sends
a recording-session INVITE for a call staff answer; the edge answers it listen-only and hands
the streams to the shadow runner (appliance.golive.shadow). Nothing is ever sent back.

`multipart`, `metadata` and `offer` are pure (bytes in, decisions out); `call` and `answer`
are the edge's side: listen-only RTP and the SIP answers.
"""
