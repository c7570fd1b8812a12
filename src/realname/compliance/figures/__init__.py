"""Compliance figures per enterprise, province, channel kind and month (issue 15 §2)."""
