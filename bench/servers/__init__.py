"""Reference servers the harness starts itself: grpc-noop (transport limit) and naive."""
