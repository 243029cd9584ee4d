"""Knowledge ingestion, pure part: cleaning markup and cutting documents and code into chunks.

Everything here takes a path (for choosing the format and for labelling) and already-decoded
text; reading files and embedding chunks belong to the adapters.
"""
