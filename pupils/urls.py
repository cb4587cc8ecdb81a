from __future__ import annotations

app_name = "pupils"

urlpatterns: list = []
