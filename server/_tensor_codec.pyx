# Placeholder until the BYTES codec lands.
