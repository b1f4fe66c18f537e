"""`python -m faults [--quick] [--only NAME ...]`: run the fault suite, print the table, exit
non-zero on any lost or unexpected write or any broken promise."""

from __future__ import annotations

import argparse
import sys

from faults.run import run
from faults.scenarios import SCENARIOS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short loads and fewer rounds")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--workers", type=int, default=2, help="workers per service")
    parser.add_argument("--no-save", action="store_true", help="do not write faults/results/")
    args = parser.parse_args(argv)
    outcome = run(args.only or list(SCENARIOS), quick=args.quick, workers=args.workers)
    return outcome.exit_code(save=not args.no_save)


if __name__ == "__main__":
    sys.exit(main())
