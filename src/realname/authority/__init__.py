"""Identity-authority adapters behind the port in `realname.identity.authority`.

- `simulated`: a table of synthetic citizens (demo, tests, `realname authority enrol`);
- `http`: our JSON contract over (mutual) TLS, with retries and a circuit breaker;
- `stub`: a server speaking that contract from a citizens file (tests, the README walkthrough);
- which one a process uses is chosen from REALNAME_AUTHORITY in `realname.wiring`.
"""
