"""The regulator's enforcement ladder: notices, interviews, rectification orders, graded cards
and the consequences the system applies (through the registry and the feature domains)."""
