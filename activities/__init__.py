"""Activities: thin, typed steps; every Partner Center call goes through the client."""
