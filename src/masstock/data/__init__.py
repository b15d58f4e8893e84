"""Files that ship inside the package: the sample device catalog."""
