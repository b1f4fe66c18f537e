"""`python -m devstack run`: the whole stack on its embedded default (what `make run` calls)."""

import sys

from devstack.stack import run

if __name__ == "__main__":
    if sys.argv[1:] != ["run"]:
        sys.exit("usage: python -m devstack run")
    sys.exit(run())
