"""The embedded control plane behind tools/cluster/cluster.py (standard library only)."""
