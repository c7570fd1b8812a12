"""Messages to subscribers: an outbox in the database and a sender that drains it."""
