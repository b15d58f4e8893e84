"""The ``masstock`` command line: thin, like the API."""
