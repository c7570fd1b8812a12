"""Secret inspections: rounds, their stratified plans, visits, test purchases and the
violation rates they measure (issue 15 §1)."""
