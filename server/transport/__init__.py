"""The gRPC front end. Proto types live here and nowhere else."""
