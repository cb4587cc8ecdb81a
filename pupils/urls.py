from __future__ import annotations

from django.urls import path

from . import views, views_staff

app_name = "pupils"

urlpatterns = [
    path("audit/", views.audit, name="audit"),
    path("office/", views.office, name="office"),
    path("office/blank-<str:kind>.csv", views.blank_csv, name="blank_csv"),
    path("office/uploads/<str:token>/", views.upload, name="upload"),
    path("office/imports/<int:pk>/", views.import_detail, name="import"),
    path("office/register/", views.register, name="register"),
    path("office/register/<int:pk>/<str:day>/<str:session>/", views.register_mark, name="register_mark"),
    path("office/today/", views.first_day, name="first_day"),
    path("office/today/<int:pk>/", views.first_day_reason, name="first_day_reason"),
    path("office/waiting/", views.first_day_waiting, name="first_day_waiting"),
    path("staff/", views_staff.staff, name="staff"),
    path("staff/<int:pk>/remove/", views_staff.staff_remove, name="staff_remove"),
    path("staff/<int:pk>/password/", views_staff.staff_password, name="staff_password"),
]
