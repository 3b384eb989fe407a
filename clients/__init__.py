"""Clients: what talks to the engine's outside world, and what a storefront installs.

- `clients.partner_center`: the Partner Center REST client (Microsoft's side): typed models,
  Entra ID tokens, one typed error and the codes the engine reacts to by name;
- `clients.storefront`: the storefront SDK (place, follow, cancel orders, supply tax IDs, add
  licences), `Storefront` and `SyncStorefront`;
- `clients.payloads`: the payload codec every process uses (pydantic JSON encrypted with
  AES-GCM);
- `clients.contract`: the engine's contract, the names and messages that cross a process
  boundary (task queue, workflow types and ids, signals, updates, queries, search attributes),
  shared by the SDK and the worker.
"""
