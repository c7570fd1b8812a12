"""Provisioning: enterprises and their licences, number blocks, the channel tree and clerks,
one at a time (CLI, API) or in bulk from a YAML or CSV file (`realname provision`)."""
