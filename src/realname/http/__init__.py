"""The HTTP kit domain endpoints stand on: who is calling, the error model, idempotent writes.

It imports no domain package, so a domain's `endpoints` module may import it while the app
factory (`realname.api`) imports every domain's router.
"""
