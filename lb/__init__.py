"""lb: an L4 load balancer that serves Kubernetes Service manifests without a cluster."""
__version__ = "0.1.0"
