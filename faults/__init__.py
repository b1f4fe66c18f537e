"""The fault suite (`make faults`): real processes, real faults, a Jepsen-style set check."""

import os

# The suite forks (pg_ctl, the services) while its own gRPC channels are open; gRPC's fork
# handlers are not needed for fork+exec and now and then crash the child.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
