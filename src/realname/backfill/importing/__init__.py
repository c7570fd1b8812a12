"""`realname import legacy`: an enterprise's anonymous prepaid base, loaded in bulk.

Billing systems export millions of legacy lines (number, SIM, activation date, balance). The
file is streamed in chunks of about `chunk_rows` rows and every check is vectorised (pyarrow
compute and numpy, never a Python loop per row):

- the number is a mobile number of the policy's jurisdiction (libphonenumber's mobile pattern,
  run by RE2) and lies in one of the enterprise's number blocks (numpy `searchsorted`);
- the ICCID has 19 or 20 digits and a valid Luhn check digit, the IMSI 15 digits;
- `activated_at` is an ISO 8601 date or date-time (UTC when it has no offset), not in the
  future; the balance a non-negative amount in yuan with at most two decimals;
- the home region is a 6-digit region code, the channel one of the enterprise's channel codes;
- a number, ICCID or IMSI already seen earlier in the file rejects the later row.

Rejected rows go to a CSV beside the input (`<FILE>.rejects.csv`) with their line number, a
stable reason code, a readable message and the original fields; the good rows land anyway.

Each loaded row becomes a `line` in state `legacy`: no owner, no `line_event` rows. The import
batch (`legacy_import`) is every such line's first event, which `realname check` replays from.
On PostgreSQL a chunk is one COPY straight into `line` inside a SAVEPOINT; a chunk whose rows
may already be there (a re-run, a killed run resumed, an overlapping file) goes through a TEMP
staging table and `INSERT … SELECT … ON CONFLICT DO NOTHING` instead, counting the rows already
present. SQLite always takes the staging route (`INSERT OR IGNORE`). The import owns its
transactions (it is given a session factory): every chunk is committed with the import
record's counts, so a killed import holds no giant transaction and re-running the file is
idempotent: it loads what is missing and changes nothing else.

Phone numbers never reach a log line or an exception message; the reject file is an operator
artefact and holds the raw rows on purpose.

The stages, one module each: `sources` reads the file in chunks, `validate` checks a chunk
(pure: no I/O), `loaders` writes the good rows and the rejects, and `pipeline` runs them
(`import_legacy`). Shared shapes live in `types`.
"""
