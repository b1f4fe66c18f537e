"""`python -m gateway render|validate|openapi|run` (settings from GATEWAY_* variables).

render    write envoy.yaml, openapi.json and docs.html into DIR (default build/gateway)
validate  render, then `envoy --mode validate` the result
openapi   print the OpenAPI document generated from the descriptor set
run       render and run Envoy in the foreground (the container's entry point)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gateway import launch, openapi, render
from gateway.config import GatewaySettings
from gateway.descriptors import load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["render", "validate", "openapi", "run"])
    parser.add_argument("--dir", type=Path, default=Path("build/gateway"))
    args = parser.parse_args(argv)
    settings = GatewaySettings()
    if args.action == "openapi":
        print(json.dumps(openapi.build(load(settings.descriptors), settings), indent=2))
        return 0
    if args.action == "validate":
        result = launch.validate(settings, args.dir)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        return result.returncode
    config = render.write(settings, args.dir)
    if args.action == "render":
        print(config)
        return 0
    argv_envoy = launch.command(settings, config)
    os.execv(argv_envoy[0], argv_envoy)  # noqa: S606 - replace this process with Envoy
    return 1  # not reached: execv does not return


if __name__ == "__main__":
    sys.exit(main())
