"""The staff side: the console web app, escalation paging, the outbox relay, exports."""
