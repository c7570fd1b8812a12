"""The staff's web pages (issue 17): front desk, enterprise console, regulator dashboard.

Server-rendered (Jinja2) by the same FastAPI app as the API. A page never reads or writes the
database itself: every figure it shows and every action it takes is a call to the JSON API
(in process, `calls.py`) with a token of the API client the signed-in account acts as, so the
authorisation, masking, audit and refusals are the API's, not a second copy of them.
"""
