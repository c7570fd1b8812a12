"""The regulator's oversight of the enterprises: secret inspections, compliance figures, the
enforcement ladder and complaints as cases (DESIGN.md §1, §8; issue 15)."""
