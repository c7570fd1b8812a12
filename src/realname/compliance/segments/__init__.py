"""Counts by age band, sex, province and enterprise for planning, without singling anyone out
(small-cell and complementary suppression)."""
