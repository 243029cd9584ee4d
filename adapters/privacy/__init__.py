"""Privacy at the edge: scrubbing, pseudonyms, per-user keys."""
