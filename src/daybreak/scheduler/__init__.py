"""The scheduler service: the shell around `daybreak.core` (store, agents, HTTP API)."""
