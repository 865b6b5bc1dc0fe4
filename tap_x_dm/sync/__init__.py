"""Reading DM events: resumable newest-first passes, routing, and the two event streams."""
