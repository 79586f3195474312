"""Deployment folders: ``package(bundle, out)`` writes a container recipe for ``mlexpert serve``
(Dockerfile, pinned requirements, README, mlexpert's own wheel, the bundle). Nothing is built
or pulled here; the service's libraries are imported on use."""
from mlexpert.deploy._package import is_deployment, package

__all__ = ["is_deployment", "package"]
