"""Proof of possession: one-time codes sent to a line, ICCID and usage proofs, and the
failed proofs that count against a channel (docs/possession.md)."""
