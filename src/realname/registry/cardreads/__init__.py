"""Card reads: what a certified card reader took from an ID card's chip at a channel's
counter, kept sealed for a few minutes until a clerk of that channel uses it, once.

A registration (or an owner-present operation) that names a read takes the document and the
name from it, and only then is it `chip_read`: the server decides, not the form."""
