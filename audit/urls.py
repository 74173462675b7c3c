from django.urls import path, re_path

from . import views

urlpatterns = [
    path("", views.audit, name="audit"),
    re_path(r"^export\.(?P<fmt>csv|jsonl)$", views.export, name="audit-export"),
    path("integrity/", views.integrity, name="audit-integrity"),
    path("orb/<seg:public_id>.png", views.orb, name="audit-orb"),
]
