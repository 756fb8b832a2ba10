"""What a run leaves behind: the journal, the rejects file, checked outputs, the report."""
