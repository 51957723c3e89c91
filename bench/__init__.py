"""Benchmarks of deliver against the physical floor: plain OpenSSH doing the same work, measured
in the same run on the same sandbox hosts. `python -m bench.run` prints the table."""
