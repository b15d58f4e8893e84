"""The rules of holding devices: pure Python, no I/O."""
