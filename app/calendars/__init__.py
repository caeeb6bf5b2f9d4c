"""A member's own calendar: the secret-URL feed of their activities and matches, and reminders."""
