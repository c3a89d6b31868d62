"""The HTTP/1.1 front end: one server (server.py, connection.py) answering the KServe v2 REST
API with Triton's extensions (rest.py), the health routes and, on its own port, /metrics."""
