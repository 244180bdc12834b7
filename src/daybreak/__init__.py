"""Daybreak: a cluster scheduler for services and batch jobs, speaking Aurora's job configs."""

__version__ = "0.1.0"
