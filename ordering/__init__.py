"""The ordering domain: the storefront's order document and the engine's pure decisions.

Plain Python, no I/O: shared by the storefront SDK, the workflows and the activities.
"""
