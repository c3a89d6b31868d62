"""Transport security: the server's TLS certificate, shared by the gRPC and HTTP front ends."""
