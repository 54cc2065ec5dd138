"""The one platform image every component and the serving chart use (tag = package version)."""

from mlops import __version__

PLATFORM_IMAGE_REPOSITORY = "ghcr.io/mlops-platform/platform"
PLATFORM_IMAGE = f"{PLATFORM_IMAGE_REPOSITORY}:{__version__}"
