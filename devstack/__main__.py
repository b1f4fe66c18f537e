"""`python -m devstack run`: the whole stack on its embedded default (what `make run` calls).

`python -m devstack scale auth|articles N`: add or drain replicas of a running stack.
"""

import sys

from devstack.control import request_scale
from devstack.settings import StackSettings
from devstack.stack import run

USAGE = "usage: python -m devstack run | python -m devstack scale auth|articles COUNT"

if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["run"]:
        sys.exit(run())
    if len(args) == 3 and args[0] == "scale" and args[2].isdigit():
        try:
            request_scale(StackSettings(), args[1], int(args[2]))
        except FileNotFoundError:
            sys.exit("no running stack found (start it with make run)")
        except ValueError as exc:
            sys.exit(str(exc))
        sys.exit(0)
    sys.exit(USAGE)
