from __future__ import annotations

app_name = "interventions"

urlpatterns: list = []
