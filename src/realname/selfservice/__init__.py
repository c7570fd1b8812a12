"""Subscriber self-service: a subscriber whose token is bound to one line acts, through that
line's registration, for its owner's identity at this operator."""
