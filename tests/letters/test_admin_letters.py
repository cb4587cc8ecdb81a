"""The letters admin: templates are checked as in the app; what the app records is read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from letters.models import Letter, LetterSettings, LetterTemplate, LetterTemplateRevision, PrintBatch
from tests.letters.conftest import queue_letters


def admin_url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:letters_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def one_of_each(school, family, admin_user):
    (letter,) = queue_letters(school, [family])
    template = letter.template
    LetterTemplateRevision.objects.create(template=template, name=template.name, body=template.body, layout="letter")
    LetterSettings.objects.create(school=school)
    batch = PrintBatch.objects.create(school=school, status="done", total=1, created_by=admin_user)
    Letter.objects.filter(pk=letter.pk).update(print_batch=batch)


@pytest.mark.parametrize("model", [LetterTemplate, LetterTemplateRevision, LetterSettings, PrintBatch, Letter])
def test_superuser_opens_every_letters_admin_page(admin_client, one_of_each, model):
    obj = model.objects.first()

    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200


@pytest.mark.parametrize("model", [LetterTemplateRevision, PrintBatch, Letter])
def test_records_the_app_keeps_are_read_only_and_never_deleted(admin_client, one_of_each, model):
    obj = model.objects.first()

    assert admin_client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_a_bad_template_is_refused_in_the_admin_too(admin_client, one_of_each):
    template = LetterTemplate.objects.get()

    response = admin_client.post(
        admin_url(LetterTemplate, "change", template.pk),
        {
            "key": template.key,
            "name": template.name,
            "subject": "Hello",
            "body": "Dear {{ carer.nmae }}",
            "layout": "letter",
            "is_active": "on",
            "revisions-TOTAL_FORMS": "0",
            "revisions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "is not a merge field" in response.content.decode()
    template.refresh_from_db()
    assert "carer.nmae" not in template.body
