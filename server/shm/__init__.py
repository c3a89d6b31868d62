"""Client-registered shared memory: regions tensors are read from and written to in place."""
