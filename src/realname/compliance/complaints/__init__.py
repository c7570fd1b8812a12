"""Complaints from the complaint centre as cases: traced to the line's owner at the instant,
and the clusters that act (re-verification, a disputed line suspended, repeat owners flagged)."""
