from __future__ import annotations

from django.urls import path

from . import views

app_name = "interventions"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("classes/", views.classes, name="classes"),
    path("pupils/<int:pk>/", views.pupil_detail, name="pupil"),
    path("pupils/<int:pk>/actions/new/", views.action_create, name="action_create"),
    path("pupils/<int:pk>/quick-log/", views.quick_log, name="quick_log"),
    path("pupils/<int:pk>/move/", views.pupil_move, name="pupil_move"),
    path("pupils/<int:pk>/flags/", views.pupil_flags, name="pupil_flags"),
    path("tasks/<int:pk>/done/", views.task_done, name="task_done"),
    path("proposals/<int:pk>/decide/", views.proposal_decide, name="proposal_decide"),
]
