"""Offline evaluation: metrics, protocols, data set readers and the runner that joins them."""
