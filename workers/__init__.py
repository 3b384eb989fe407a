"""Processes: the worker, the sandbox and the `csp-orders` command line."""
