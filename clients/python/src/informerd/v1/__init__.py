"""Generated informer.v1 protobuf and gRPC modules (scripts/gen-clients)."""
