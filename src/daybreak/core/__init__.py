"""The decisions, as pure synchronous code: no I/O, no clock reads, no unseeded randomness."""
