"""The registry core: enterprises, identities, lines, the line lifecycle and the caps."""
