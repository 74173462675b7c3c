"""Dock's URLs plus the peers' `me` views, for the in-process full-request comparison."""

from django.urls import path

from dock.urls import urlpatterns as dock_urlpatterns

from .views import DrfMe, KnoxMe

urlpatterns = [
    path("peer/drf/me", DrfMe.as_view()),
    path("peer/knox/me", KnoxMe.as_view()),
    *dock_urlpatterns,
]
