"""The peers' authentication classes, used as their documentation shows."""

from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework.authentication import TokenAuthentication

from .models import DrfToken


class DrfTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication, unchanged, over the proxy that joins the principal."""

    model = DrfToken


__all__ = ["DrfTokenAuthentication", "KnoxTokenAuthentication"]
