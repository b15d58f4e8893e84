"""One module per outside thing; foreign errors become the project's own here."""
