"""Runs of several hosts (a TPU pod slice): launchers that start one trainer per host, and
the supervisor that ends them all when one fails."""
