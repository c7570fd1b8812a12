"""`python -m realname`: the same CLI as the `realname` script."""

from realname.cli import main

main()
