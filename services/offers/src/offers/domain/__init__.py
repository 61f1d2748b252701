"""Pure rules of the offers service: no I/O, no contracts, no framework."""
