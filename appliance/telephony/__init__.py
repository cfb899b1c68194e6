"""The SIP/RTP telephony edge: answers and places calls through the clinic PBX."""
