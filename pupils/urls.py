from __future__ import annotations

from django.urls import path

from . import views

app_name = "pupils"

urlpatterns = [
    path("audit/", views.audit, name="audit"),
]
