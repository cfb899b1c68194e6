"""Calendar sync: the clinic's calendars (CalDAV) as the source of truth for availability."""
