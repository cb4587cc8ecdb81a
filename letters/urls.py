from __future__ import annotations

from django.urls import path

from . import views

app_name = "letters"

urlpatterns = [
    path("letters/", views.queue, name="queue"),
    path("letters/print/", views.print_letters, name="print"),
    path("letters/post/", views.post_letters, name="post"),
    path("letters/batches/<int:pk>/", views.batch_detail, name="batch"),
    path("letters/batches/<int:pk>/pdf/", views.batch_pdf, name="batch_pdf"),
    path("letters/batches/<int:pk>/post/", views.batch_post, name="batch_post"),
    path("letters/batches/<int:pk>/unpost/", views.batch_unpost, name="batch_unpost"),
    path("letters/<int:pk>/", views.letter_detail, name="letter"),
    path("letters/<int:pk>/pdf/", views.letter_pdf, name="letter_pdf"),
    path("letters/<int:pk>/details/", views.letter_details, name="letter_details"),
    path("letters/<int:pk>/cancel/", views.letter_cancel, name="letter_cancel"),
    path("letters/compose/<int:pupil_pk>/", views.compose, name="compose"),
    path("letters/bulk/", views.bulk, name="bulk"),
    path("letters/templates/", views.template_list, name="templates"),
    path("letters/templates/new/", views.template_new, name="template_new"),
    path("letters/templates/<slug:key>/", views.template_edit, name="template_edit"),
    path("letters/templates/<slug:key>/pdf/", views.template_pdf, name="template_pdf"),
    path("letters/settings/", views.settings_edit, name="settings"),
]
