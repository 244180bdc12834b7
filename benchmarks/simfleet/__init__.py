"""A fleet simulator: thousands of agents speaking the real agent protocol, through the real
agent's `SchedulerLink` and outbox, over real WebSockets, from a few worker processes, against
a real scheduler. No task processes: a task "runs" when its simulated machine says so, and
fails or finishes on a seeded schedule. `Fleet` drives it: start, stop (an agent killed, its
tasks still running) and restart agents in bulk, pause whole workers (SIGSTOP), read counts.
"""
