from __future__ import annotations

from django.urls import path

from . import views, views_ladder, views_lists

app_name = "interventions"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("classes/", views.classes, name="classes"),
    path("pupils/<int:pk>/", views.pupil_detail, name="pupil"),
    path("pupils/<int:pk>/actions/new/", views.action_create, name="action_create"),
    path("pupils/<int:pk>/quick-log/", views.quick_log, name="quick_log"),
    path("pupils/<int:pk>/actions/<int:action_pk>/undo/", views.action_undo, name="action_undo"),
    path("pupils/<int:pk>/actions/<int:action_pk>/correct/", views.action_correct, name="action_correct"),
    path("pupils/<int:pk>/move/", views.pupil_move, name="pupil_move"),
    path("pupils/<int:pk>/flags/", views.pupil_flags, name="pupil_flags"),
    path("pupils/<int:pk>/referrals/new/", views_lists.referral_create, name="referral_create"),
    path("nights/", views.nights, name="nights"),
    path("nights/run/", views.night_run_now, name="night_run"),
    path("tasks/", views.tasks, name="tasks"),
    path("tasks/<int:pk>/done/", views.task_done, name="task_done"),
    path("tasks/<int:pk>/reopen/", views.task_reopen, name="task_reopen"),
    path("proposals/<int:pk>/decide/", views.proposal_decide, name="proposal_decide"),
    # Senior leaders' lists (each exports as CSV with ?format=csv)
    path("lists/escalations/", views_lists.escalations, name="escalations"),
    path("lists/referrals/", views_lists.referrals, name="referrals"),
    path("lists/referrals/<int:pk>/", views_lists.referral_update, name="referral_update"),
    path("lists/absence/", views_lists.absence_groups, name="absence_groups"),
    path("lists/penalty-notices/", views_lists.penalty_threshold, name="penalty_threshold"),
    # Ladders
    path("ladder/", views_ladder.ladder_active, name="ladder"),
    path("ladder/format/", views_ladder.ladder_format_help, name="ladder_format"),
    path("ladders/<slug:key>/", views_ladder.ladder_detail, name="ladder_detail"),
    path("ladders/<slug:key>/copy/", views_ladder.ladder_copy, name="ladder_copy"),
    path("ladders/<slug:key>/edit/", views_ladder.ladder_edit, name="ladder_edit"),
    path("ladders/<slug:key>/simulate/", views_ladder.ladder_simulate, name="ladder_simulate"),
    path("ladders/<slug:key>/activate/", views_ladder.ladder_activate, name="ladder_activate"),
    path("ladders/<slug:key>/export/", views_ladder.ladder_export, name="ladder_export"),
]
