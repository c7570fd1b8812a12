"""一证通查: a subscriber's national lookup of their lines, and "not mine" disputes."""
