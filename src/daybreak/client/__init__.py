"""The `daybreak` command line."""
