"""Identity checks for banks and payment apps (CAMARA KYC Match, SIM Swap, Age Verification,
Tenure, Number Verification), consented, rate-limited and audited, so the registry answers
match / no-match questions without becoming an oracle."""
