"""Temporal workflows: an order, extra licences, and the per-customer slot that serializes them."""
