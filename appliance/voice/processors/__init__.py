"""The call's Pipecat frame processors, one per stage:

    transport.input() ─▶ TurnTaking ─▶ Transcription ─▶ ConversationStage ─▶ Speech ─▶ transport.output()
"""
