"""The Stellar contract service: the only process that holds signing keys. Django reaches it
over HTTP (or, on the embedded default, calls its local backend in-process)."""
