"""A local Partner Center: same paths, bodies, status codes and rules, over real HTTP."""
