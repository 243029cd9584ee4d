"""Reading knowledge sources from the file system."""
