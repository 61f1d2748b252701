"""Pure matching rules: which funded sessions an offer is linked to, and the seeker's search index."""
