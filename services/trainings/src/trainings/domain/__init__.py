"""Pure rules of the training catalogue: no I/O, no contracts, no framework."""
