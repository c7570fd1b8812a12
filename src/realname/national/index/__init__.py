"""The national index: per national identity key, the lines each enterprise's feed says it holds."""
