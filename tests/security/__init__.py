"""Security tests: TLS, mutual TLS and transport limits; certs.py makes the certificates."""
